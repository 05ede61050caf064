"""The engine: service specs, stack lifecycle, readiness probes, images and the CLI.

Nothing in this package imports pytest; the pytest layer lives in ``fixtures``.
"""

from __future__ import annotations

__version__ = "0.1.0"
