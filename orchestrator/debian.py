"""Make a Debian base image without a registry: debootstrap a root file system and import it.

The mirror is the one this machine's apt already uses (its sources files), so
nothing about the network is written into the project.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker

from orchestrator.engine import LABEL_MANAGED
from orchestrator.errors import ImageError

SUITE = "bookworm"
APT_SOURCES = Path("/etc/apt")
DEBOOTSTRAP_TIMEOUT = 900


def apt_mirror(sources_dir: Path = APT_SOURCES, suite: str = SUITE) -> str:
    """The first Debian mirror of ``suite`` in the machine's apt sources."""
    deb822 = sorted((sources_dir / "sources.list.d").glob("*.sources"))
    for path in deb822:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1)
                for line in stanza.splitlines()
                if re.match(r"^[A-Za-z-]+:", line)
            )
            suites = fields.get("Suites", "").split()
            uris = fields.get("URIs", "").split()
            if suite in suites and uris:
                return uris[0]
    legacy = [
        sources_dir / "sources.list",
        *sorted((sources_dir / "sources.list.d").glob("*.list")),
    ]
    for path in legacy:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                return words[1]
    raise ImageError(
        f"no apt source for Debian {suite} on this machine ({sources_dir}); "
        "set base_image in [tool.orchestrator] to an image the engine has or can pull"
    )


def _ensure_debootstrap(log: Callable[[str], None]) -> str:
    found = shutil.which("debootstrap")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ImageError(
            "no base image can be pulled and debootstrap is missing; install debootstrap "
            "(as root: apt-get install debootstrap) or make base_image available to the engine"
        )
    log("installing debootstrap with apt-get")
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "debootstrap"],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=600)
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


def make_debian_base(
    client: docker.DockerClient, reference: str, log: Callable[[str], None]
) -> None:
    """debootstrap a minimal Debian into a temporary directory and import it as ``reference``."""
    debootstrap = _ensure_debootstrap(log)
    mirror = apt_mirror()
    started = time.monotonic()
    repository, _, tag = reference.partition(":")
    with tempfile.TemporaryDirectory(prefix="stackyard-rootfs-") as tmp:
        root = Path(tmp) / "root"
        completed = subprocess.run(
            [debootstrap, "--variant=minbase", SUITE, str(root), mirror],
            capture_output=True,
            text=True,
            timeout=DEBOOTSTRAP_TIMEOUT,
            check=False,
        )
        if completed.returncode != 0:
            tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-20:])
            raise ImageError(f"debootstrap {SUITE} from {mirror} failed:\n{tail}")
        archive = Path(tmp) / "root.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True, timeout=600)
        client.api.import_image_from_file(
            str(archive),
            repository=repository,
            tag=tag or "latest",
            changes=[f"LABEL {LABEL_MANAGED}=true"],
        )
    log(f"made {reference} with debootstrap in {time.monotonic() - started:.1f}s")
