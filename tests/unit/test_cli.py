"""The ``orchestrator`` console script."""

import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import __version__
from orchestrator.cli import main


def test_version_flag_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"orchestrator {__version__}"


def test_no_arguments_prints_help(capsys):
    assert main([]) == 0
    assert "usage: orchestrator" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--frobnicate"])

    assert exit_info.value.code == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


def test_installed_console_script_runs():
    script = Path(sys.executable).with_name("orchestrator")

    completed = subprocess.run(
        [script, "--help"], capture_output=True, text=True, timeout=30, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert "Celery worker" in completed.stdout
