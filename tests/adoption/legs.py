"""How the adoption test builds the wheel and runs a project's commands on one Python.

A leg is a fresh virtualenv with the wheel and the project's dependencies, in
which the quick start's commands run one after another in the project's
directory, each bounded. On the host it uses a Python of this machine; with
``container_suite`` it runs in a Debian container of that suite (its own
Python) on the same Docker engine, through the engine's socket and the host's
network, with the project at the same path, so the worker containers' mounts
and the browser's way to the live server are what they are on the host.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

STEP_TIMEOUT = 900  # seconds; the first integration run builds the worker image
# What a shell on this machine needs to reach the package index and the engine.
PASSED_VARIABLES = ("HOME", "LANG", "PATH", "DOCKER_HOST", "CI", "PIP_CERT", "PIP_INDEX_URL")
RUNNER_RECIPE = Path(__file__).parent / "runner"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class Leg:
    """``python``: the interpreter that makes the virtualenv; ``pins``: a lock of the
    project's (written as its constraints.txt); ``container_suite``: run in Debian."""

    python: str
    pins: Sequence[str] = ()
    container_suite: str = ""


def build_wheel(repo: Path, target: Path) -> Path:
    """The wheel of this repository, built as a user's pip would (isolated build)."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(target),
            str(repo),
        ],
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{completed.stderr[-3000:]}", pytrace=False)
    (wheel,) = target.glob("stackyard-*.whl")
    return wheel


def _environment(extra: dict[str, str]) -> dict[str, str]:
    """A user's shell: none of this pytest run's variables (settings, xdist, paths)."""
    base = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
    # These machines reach no registry: images are built from the recipes in the wheel.
    return {**base, "ORCHESTRATOR_IMAGE_MODE": "build", **extra}


def _script(leg: Leg, wheel: Path, project: Path, commands: Sequence[str]) -> str:
    """The shell script of one leg: a virtualenv, the installs, then each command."""
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    requirements = " ".join(shlex.quote(item) for item in dependencies["dependencies"])
    constraints = "-c constraints.txt" if leg.pins else ""
    venv = project.parent / "venv"
    lines = [
        "set -eu",
        f"cd {shlex.quote(str(project))}",
        f"{shlex.quote(leg.python)} -m venv {venv}",
        f'export PATH="{venv}/bin:$PATH"',
        "python -m pip install --quiet --disable-pip-version-check "
        f"{constraints} {shlex.quote(str(wheel))} {requirements}",
        "python --version",
    ]
    for number, command in enumerate(commands):
        lines.append(f"echo '::: step {number}: {command}'")
        lines.append(command)
    return "\n".join(lines) + "\n"


def run_leg(leg: Leg, wheel: Path, project: Path, commands: Sequence[str]) -> list[str]:
    """Run the commands in a fresh virtualenv of the leg; return each command's output."""
    if leg.pins:
        (project / "constraints.txt").write_text("\n".join(leg.pins) + "\n")
    script = _script(leg, wheel, project, commands)
    if leg.container_suite:
        argv = _container_argv(leg.container_suite, wheel, project)
    else:
        argv = ["bash", "-c", script]
    completed = subprocess.run(
        argv,
        input=script if leg.container_suite else None,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT * len(commands),
        env=_environment({}),
        check=False,
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        errors = "\n".join(
            line
            for line in completed.stderr.splitlines()
            if "is ignored: it is neither" not in line
        )
        failure = (
            f"the leg failed (exit {completed.returncode}):\n{completed.stdout[-8000:]}\n"
            f"--- stderr ---\n{errors[-3000:]}"
        )
        pytest.fail(failure, pytrace=False)
    steps = completed.stdout.split("::: step ")[1:]
    assert len(steps) == len(commands), output[-3000:]
    return steps


def _container_argv(suite: str, wheel: Path, project: Path) -> list[str]:
    image = runner_image(suite)
    work = project.parent
    socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").split("://", 1)[1]
    return [
        "docker", "run", "--rm", "-i",
        "--network", "host",
        "--label", "io.stackyard.adoption=runner",
        "-v", f"{socket}:/var/run/docker.sock",
        "-v", f"{work}:{work}",
        "-v", f"{wheel.parent}:{wheel.parent}:ro",
        "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
        "-e", f"PIP_CERT={CA_BUNDLE}",
        "-e", "ORCHESTRATOR_IMAGE_MODE=build",
        "-e", "HOME=/tmp",
        image, "bash", "-s",
    ]  # fmt: skip


def runner_image(suite: str) -> str:
    """An image of Debian ``suite`` with its python3 and venv, made from the offline base."""
    from docker.errors import ImageNotFound

    from orchestrator.debian import base_reference, make_debian_base
    from orchestrator.engine import connect

    client = connect()
    base = base_reference(suite)
    try:
        client.images.get(base)
    except ImageNotFound:
        make_debian_base(client, base, print, suite=suite)
    reference = f"stackyard-adoption/runner:{suite}"
    client.images.build(
        path=str(RUNNER_RECIPE), tag=reference, buildargs={"BASE_IMAGE": base}, rm=True
    )
    return reference
