"""A directory of saved images that a CI cache carries from one run to the next.

``image_cache`` in ``[tool.orchestrator]`` (or ``ORCHESTRATOR_IMAGE_CACHE``) names
it. An image that must be built, or a base that must be debootstrapped, is first
looked for there (one ``docker save`` archive per image, named after its
reference) and loaded instead; one that is built anyway is saved there, and the
archives of the same service's older builds are removed. Built images' tags hash
their inputs and their base's id, so an archive is found only by the image it
holds: a cache restored from another commit's key is safe, only less useful.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound
from requests.exceptions import RequestException

SUFFIX = ".tar"
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def archive_name(reference: str) -> str:
    """The file an image is saved in: ``stackyard/worker:01ab``, ``stackyard_worker@01ab.tar``."""
    repository, _, tag = reference.rpartition(":")
    if "/" in tag or not repository:  # no tag (a port in a registry's address is not one)
        repository, tag = reference, "latest"
    return f"{UNSAFE.sub('_', repository)}@{UNSAFE.sub('_', tag)}{SUFFIX}"


class ImageCache:
    """Loads images from, and saves them to, one directory (None: no cache)."""

    def __init__(
        self, client: docker.DockerClient, directory: Path | None, log: Callable[[str], None]
    ) -> None:
        self.client = client
        self.directory = directory
        self.log = log

    def __repr__(self) -> str:
        return f"ImageCache({self.directory})"

    def load(self, reference: str) -> bool:
        """Load ``reference`` from its archive; False when there is none or it is unusable
        (an unusable archive is removed, and the image is made another way)."""
        if self.directory is None:
            return False
        archive = self.directory / archive_name(reference)
        if not archive.is_file():
            return False
        try:
            with archive.open("rb") as data:
                self.client.images.load(data)
            self.client.images.get(reference)
        except (DockerException, RequestException, OSError) as error:
            reason = "it does not hold the image" if isinstance(error, ImageNotFound) else error
            self.log(f"image cache: cannot load {archive.name} ({reason}); removing it")
            with contextlib.suppress(OSError):
                archive.unlink()
            return False
        self.log(f"loaded {reference} from {archive}")
        return True

    def save(self, reference: str) -> None:
        """Save ``reference`` in the cache, replacing the archives of the same repository's
        other tags. A cache that cannot be written costs the next run a build, not this run."""
        if self.directory is None:
            return
        name = archive_name(reference)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, partial = tempfile.mkstemp(prefix=".saving-", dir=self.directory)
            try:
                with os.fdopen(handle, "wb") as out:
                    for chunk in self.client.images.get(reference).save(named=True):
                        out.write(chunk)
                os.replace(partial, self.directory / name)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(partial)
                raise
            repository = name.partition("@")[0]
            for older in self.directory.glob(f"{repository}@*{SUFFIX}"):
                if older.name != name:
                    older.unlink()
        except (DockerException, RequestException, OSError) as error:
            self.log(f"image cache: cannot save {reference} in {self.directory}: {error}")
