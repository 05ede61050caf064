"""Which Python the worker image runs, and which base image provides it.

The worker runs the tests' Python minor version (or ``worker.python``): in registry
mode on ``python:X.Y-slim``, otherwise on the Debian release that ships X.Y
(bookworm 3.11, trixie 3.13), debootstrapped when no registry answers.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from orchestrator.config import Config
from orchestrator.debian import SUITE_PYTHON, base_reference, suite_for_python
from orchestrator.errors import ConfigError, ImageError

Version = tuple[int, int]


def version_text(version: Version) -> str:
    """``(3, 13)`` → ``"3.13"``."""
    return f"{version[0]}.{version[1]}"


def worker_python(config: Config) -> Version:
    """The worker image's Python (major, minor): ``worker.python``, else this process's."""
    value = str(config["worker.python"]).strip()
    if not value:
        return (sys.version_info.major, sys.version_info.minor)
    match = re.fullmatch(r"(3)\.(\d{1,2})", value)
    if match is None:
        raise ConfigError(
            f"worker.python = {value!r}: expected a Python version like '3.13', or '' for "
            f"the test process's ({version_text(sys.version_info[:2])})"
        )
    return (int(match[1]), int(match[2]))


def worker_base_candidates(version: Version, image_mode: str, configured_base: str) -> list[str]:
    """Bases that have (or, Debian ones, install) Python ``version``, best first.

    In registry mode ``python:X.Y-slim`` comes first. Then the Debian release whose
    python3 is X.Y: ``base_image`` when its name names that release (a team's own
    copy of ``debian:trixie-slim``), ``debian:<release>-slim``, and last
    ``stackyard/debian-base:<release>``, the one debootstrap makes offline. Empty
    when no base has that version.
    """
    candidates = [f"python:{version_text(version)}-slim"] if image_mode == "registry" else []
    suite = suite_for_python(version)
    if suite is not None:
        if suite in configured_base:
            candidates.append(configured_base)
        candidates += [f"debian:{suite}-slim", base_reference(suite)]
    return list(dict.fromkeys(candidates))


def no_base_error(version: Version, image_mode: str, pull_errors: Iterable[str]) -> ImageError:
    """The one error for a worker Python no base provides: what exists and the fixes."""
    wanted = version_text(version)
    offline = ", ".join(f"{suite} ({version_text(v)})" for suite, v in SUITE_PYTHON.items())
    tried = "; ".join(pull_errors)
    registry_fix = (
        f"make python:{wanted}-slim available to the engine"
        if image_mode == "registry"
        else f"set image_mode = 'registry' where a registry is reachable (the worker then "
        f"builds on python:{wanted}-slim)"
    )
    return ImageError(
        f"no base image provides Python {wanted} for the worker image (the test process's "
        f"Python unless worker.python says otherwise){f': {tried}' if tried else ''}. "
        f"Without a registry stackyard debootstraps Debian releases with their python3: "
        f"{offline}. Fix: {registry_fix}; or name a ready image with Python {wanted} in "
        "images.worker; or run the tests (or set worker.python) on one of those versions"
    )
