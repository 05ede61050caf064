"""Fingerprints: what tells a kept stack or a worker container that it is stale."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from orchestrator.config import Config, worker_settings_module

# Bumped when the state file's shape changes: a kept stack recorded in another shape
# is replaced rather than misread.
STATE_VERSION = 2


def source_fingerprint(directory: Path) -> str:
    """Changes when a Python file under ``directory`` is added, removed or modified."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(directory)}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()[:12]


def configuration_fingerprint(config: Config, images: dict[str, str]) -> str:
    """What a kept stack was made from: a change means its containers are stale.

    The worker's settings module is resolved (it may come from the environment or
    pytest's configuration, not from ``[tool.orchestrator]``).
    """
    settings = worker_settings_module(config) if config["worker.app"] else ""
    document = json.dumps(
        {
            "state": STATE_VERSION,
            "images": images,
            "config": dict(config.values),
            "worker_settings": settings,
        },
        sort_keys=True,
    )
    return hashlib.sha256(document.encode()).hexdigest()[:12]
