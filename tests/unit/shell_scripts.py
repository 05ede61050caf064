"""Scripts that CI files hold inline, checked with the virtualenv's shellcheck."""

import subprocess
import sys
from pathlib import Path


def shellcheck_output(script: str, path: Path) -> str:
    """shellcheck's findings on ``script`` written as a bash file at ``path`` ('' = none)."""
    path.write_text("#!/usr/bin/env bash\n" + script + "\n")
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "shellcheck"), "--severity=style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return completed.stdout if completed.returncode else ""
