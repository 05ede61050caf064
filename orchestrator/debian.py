"""Make a Debian base image without a registry: debootstrap a root file system and import it.

The mirror is the one this machine's apt already uses (its sources files), so
nothing about the network is written into the project. Each Debian release
ships one python3; :data:`SUITE_PYTHON` says which, so a worker image for a
given Python knows which release to build on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker

from orchestrator.engine import LABEL_MANAGED
from orchestrator.errors import ImageError

DEFAULT_SUITE = "bookworm"
# The python3 (major, minor) of each release stackyard can debootstrap, oldest first.
SUITE_PYTHON: dict[str, tuple[int, int]] = {"bookworm": (3, 11), "trixie": (3, 13)}
# Debian release names whose apt source is the Debian archive itself (not -security,
# -updates or a third party's "nodistro"): any of them tells where the archive is.
DEBIAN_RELEASES = ("bullseye", "bookworm", "trixie", "forky", "sid")
APT_SOURCES = Path("/etc/apt")
DEBOOTSTRAP_TIMEOUT = 900
IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")


def suite_for_python(version: tuple[int, int]) -> str | None:
    """The Debian release whose python3 is ``version`` (``(3, 13)`` → ``trixie``), or None."""
    for suite, python in SUITE_PYTHON.items():
        if python == version:
            return suite
    return None


def base_reference(suite: str) -> str:
    """The tag of the base image debootstrapped from ``suite``."""
    return f"stackyard/debian-base:{suite}"


def apt_mirror(sources_dir: Path = APT_SOURCES, suite: str = DEFAULT_SUITE) -> str:
    """The Debian mirror of ``suite`` in the machine's apt sources.

    A machine lists only its own release; one Debian archive serves them all, so
    when ``suite`` is not listed the mirror of another Debian release is returned
    (a bookworm machine's ``http://deb.debian.org/debian`` serves trixie too).
    """
    listed = list(_listed_sources(sources_dir))
    for listed_suite, uri in listed:
        if listed_suite == suite:
            return uri
    for listed_suite, uri in listed:
        if listed_suite in DEBIAN_RELEASES:
            return uri
    raise ImageError(
        f"no apt source for Debian {suite} on this machine ({sources_dir}); "
        "set base_image in [tool.orchestrator] to an image the engine has or can pull"
    )


def _listed_sources(sources_dir: Path) -> Iterator[tuple[str, str]]:
    """(suite, first URI) of every apt source, deb822 files first, then one-line ones."""
    for path in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1)
                for line in stanza.splitlines()
                if re.match(r"^[A-Za-z-]+:", line)
            )
            uris = fields.get("URIs", "").split()
            for suite in fields.get("Suites", "").split():
                if uris:
                    yield suite, uris[0]
    legacy = [
        sources_dir / "sources.list",
        *sorted((sources_dir / "sources.list.d").glob("*.list")),
    ]
    for path in legacy:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line).split()
            if len(words) >= 3 and words[0] == "deb":
                yield words[2], words[1]


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
    client: docker.DockerClient,
    reference: str,
    log: Callable[[str], None],
    suite: str = DEFAULT_SUITE,
) -> None:
    """debootstrap a minimal Debian ``suite`` into a temporary directory; import it as
    ``reference``. The temporary root file system is removed whatever happens."""
    debootstrap = _ensure_debootstrap(log)
    mirror = apt_mirror(suite=suite)
    started = time.monotonic()
    repository, _, tag = reference.partition(":")
    with tempfile.TemporaryDirectory(prefix="stackyard-rootfs-") as tmp:
        root = Path(tmp) / "root"
        completed = subprocess.run(
            [debootstrap, "--variant=minbase", suite, str(root), mirror],
            capture_output=True,
            text=True,
            timeout=DEBOOTSTRAP_TIMEOUT,
            check=False,
        )
        if completed.returncode != 0:
            tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-20:])
            raise ImageError(f"debootstrap {suite} from {mirror} failed:\n{tail}")
        archive = Path(tmp) / "root.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True, timeout=600)
        imported = client.api.import_image_from_file(
            str(archive),
            repository=repository,
            tag=tag or "latest",
            changes=[f"LABEL {LABEL_MANAGED}=true"],
        )
        name_imported(client, imported, repository, tag or "latest")
    log(f"made {reference} with debootstrap in {time.monotonic() - started:.1f}s")


def name_imported(client: docker.DockerClient, answer: object, repository: str, tag: str) -> None:
    """See that the image an import made is named ``repository:tag``. Podman's Docker API
    (4.x) names an import docker.io/REPOSITORY:latest, whatever tag it is given: the
    image it reports is tagged as asked (a no-op on Docker)."""
    image_ids = IMAGE_ID.findall(str(answer))
    if image_ids:
        client.api.tag(image_ids[-1], repository, tag)
    try:
        client.images.get(f"{repository}:{tag}")
    except docker.errors.NotFound:
        raise ImageError(
            f"the engine imported the debootstrapped base but has no {repository}:{tag} "
            f"(its answer: {str(answer)[:200]!r})"
        ) from None
