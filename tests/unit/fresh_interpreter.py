"""Run a snippet in a new Python process: import state that this one already has is gone."""

import subprocess
import sys
from pathlib import Path


def run_python(source: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -c source args...`` in ``cwd``, bounded; the caller checks what it printed."""
    return subprocess.run(
        [sys.executable, "-c", source, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
