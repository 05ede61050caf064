"""The engine: service specs, stack lifecycle, readiness probes, images and the CLI.

Nothing in this package imports pytest; the pytest layer lives in ``fixtures``.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Names of the threads stackyard starts (starts, probes, builds, teardowns): the fast
# layer's network guard lets them through while a test runs in the same process.
THREAD_PREFIX = "stackyard"
