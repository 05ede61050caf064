"""Images: which image each service runs, and building the ones that are missing.

Two modes (``image_mode`` in ``[tool.orchestrator]``):

- ``registry``: Redis, RabbitMQ and the browser run the configured image names,
  pulled when absent (the official images have the same interfaces);
- ``build``: every image is built from its recipe on ``base_image``.

A recipe is a Dockerfile directory. The wheel ships one per service (this
repository's ``docker/``); ``recipes.<service>`` points one service at the
project's own directory instead.

The worker image is built in both modes: it holds the project's dependencies.
``images.worker`` names a ready image to run instead (the image a team ships).
Built images are tagged ``stackyard/<service>:<hash>``, the hash covering every
input (Dockerfile directory, base image id, requirements and constraints), so an
unchanged image is found by its tag and never rebuilt. When the base image can be
neither found nor pulled (no registry), a Debian base is made offline with
debootstrap from the machine's own apt mirror.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

import orchestrator
from orchestrator.config import Config
from orchestrator.debian import make_debian_base
from orchestrator.engine import LABEL_INPUTS, LABEL_MANAGED, LABEL_SERVICE
from orchestrator.errors import ImageError

SERVICES = ("redis", "rabbitmq", "browser", "worker")
REGISTRY_SERVICES = ("redis", "rabbitmq", "browser")
OFFLINE_BASE = "stackyard/debian-base:bookworm"
# Builds mostly wait on the package mirror; more than this starves 2 cores.
PARALLEL_BUILDS = 3
BUILD_LOG_TAIL = 30

Log = Callable[[str], None]


def shipped_recipes() -> Path:
    """The directory of the recipes that come with stackyard.

    In the wheel they sit in ``orchestrator/recipes``; in a source checkout (or an
    editable install) they are the repository's ``docker/``.
    """
    package = Path(orchestrator.__file__).resolve().parent
    installed = package / "recipes"
    return installed if installed.is_dir() else package.parent / "docker"


@dataclass(frozen=True)
class ImageReport:
    """What was done to have one service's image: ``present``, ``pulled`` or ``built``."""

    service: str
    reference: str
    action: str
    seconds: float


class ImageBuilder:
    """Resolves the image of each service, pulling or building what is missing."""

    def __init__(self, client: docker.DockerClient, config: Config, log: Log = print) -> None:
        self.client = client
        self.config = config
        self.log = log
        self._base: str | None = None

    def ensure(self, services: Iterable[str] = SERVICES) -> dict[str, ImageReport]:
        """Make every service's image available; return what was done for each."""
        wanted = list(services)
        unknown = sorted(set(wanted) - set(SERVICES))
        if unknown:
            raise ImageError(f"no image recipe for service {unknown[0]!r}; known: {SERVICES}")
        if any(self._is_built(service) for service in wanted):
            self.base_image()
        with ThreadPoolExecutor(max_workers=PARALLEL_BUILDS) as pool:
            reports = list(pool.map(self._ensure_one, wanted))
        return {report.service: report for report in reports}

    def base_image(self) -> str:
        """The base of built images: the configured one, pulled if needed, else made offline."""
        if self._base is None:
            self._base = self._resolve_base()
        return self._base

    def reference(self, service: str) -> str:
        """The image a service runs, without making it available."""
        if not self._is_built(service):
            return str(self.config[f"images.{service}"])
        return f"stackyard/{service}:{self.inputs_hash(service)}"

    def inputs_hash(self, service: str) -> str:
        """Hash of everything that goes into a built image (12 hex digits)."""
        digest = hashlib.sha256()
        digest.update(self._image_id(self.base_image()).encode())
        for path in self._input_files(service):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:12]

    def _is_built(self, service: str) -> bool:
        if service == "worker":
            return not str(self.config["images.worker"])
        return bool(self.config["image_mode"] == "build")

    def _ensure_one(self, service: str) -> ImageReport:
        started = time.monotonic()
        if not self._is_built(service):
            reference = str(self.config[f"images.{service}"])
            action = self._present_or_pulled(reference, service)
            return ImageReport(service, reference, action, time.monotonic() - started)
        reference = self.reference(service)
        if self._exists(reference):
            return ImageReport(service, reference, "present", time.monotonic() - started)
        self.log(f"building {reference} from {self._recipe_dir(service)} on {self.base_image()}")
        with self._build_context(service) as context:
            self._build(context, reference, service)
        seconds = time.monotonic() - started
        self.log(f"built {reference} in {seconds:.1f}s")
        return ImageReport(service, reference, "built", seconds)

    def _resolve_base(self) -> str:
        configured = str(self.config["base_image"])
        for candidate in (configured, OFFLINE_BASE):
            if self._exists(candidate):
                return candidate
        try:
            self._pull(configured)
            return configured
        except ImageError as error:
            self.log(f"{error}; making {OFFLINE_BASE} offline with debootstrap")
        make_debian_base(self.client, OFFLINE_BASE, self.log)
        return OFFLINE_BASE

    def _present_or_pulled(self, reference: str, service: str) -> str:
        if self._exists(reference):
            return "present"
        try:
            self._pull(reference)
        except ImageError as error:
            raise ImageError(
                f"{error}. The {service} service needs it in image_mode = 'registry'; "
                "set image_mode = 'build' in [tool.orchestrator] "
                "(or ORCHESTRATOR_IMAGE_MODE=build) "
                f"to build it from {self._recipe_dir(service)}"
            ) from None
        return "pulled"

    def _pull(self, reference: str) -> None:
        self.log(f"pulling {reference}")
        try:
            self.client.images.pull(reference)
        except APIError as error:
            raise ImageError(f"cannot pull {reference}: {error.explanation or error}") from None

    def _exists(self, reference: str) -> bool:
        try:
            self.client.images.get(reference)
        except ImageNotFound:
            return False
        return True

    def _image_id(self, reference: str) -> str:
        return str(self.client.images.get(reference).id)

    def _recipe_dir(self, service: str) -> Path:
        key = f"recipes.{service}"
        directory = self.config.path(key) if self.config[key] else shipped_recipes() / service
        if not (directory / "Dockerfile").is_file():
            raise ImageError(
                f"no {directory / 'Dockerfile'}; set {key} in [tool.orchestrator] to a directory "
                "holding the image's Dockerfile, or to '' for the recipe stackyard ships"
            )
        return directory

    def _input_files(self, service: str) -> list[Path]:
        directory = self._recipe_dir(service)
        files = sorted(path for path in directory.rglob("*") if path.is_file())
        if service == "worker":
            files += [self._requirements(), *self._constraints()]
        return files

    def _requirements(self) -> Path:
        if not self.config["worker.requirements"]:
            raise ImageError(
                "worker.requirements is not set: the worker image needs the project's "
                "dependencies; set it in [tool.orchestrator] to a requirements file or to "
                "'pyproject.toml' (`orchestrator init` infers it), or name a ready image "
                "in images.worker"
            )
        path = self.config.path("worker.requirements")
        if not path.is_file():
            raise ImageError(
                f"worker.requirements = {self.config['worker.requirements']!r}: no such file; "
                "point it at the requirements file of what the Celery worker imports"
            )
        return path

    def _write_requirements(self, target: Path) -> None:
        """The worker's requirements as a pip requirements file at ``target``.

        ``pyproject.toml`` stands for its ``[project].dependencies``.
        """
        source = self._requirements()
        if source.name != "pyproject.toml":
            shutil.copy(source, target)
            return
        import tomllib

        dependencies = tomllib.loads(source.read_text()).get("project", {}).get("dependencies")
        if not isinstance(dependencies, list):
            raise ImageError(
                f"worker.requirements = {self.config['worker.requirements']!r}: {source} has no "
                "[project].dependencies list; name a requirements file instead"
            )
        target.write_text("".join(f"{line}\n" for line in dependencies))

    def _constraints(self) -> list[Path]:
        if not self.config["worker.constraints"]:
            return []
        path = self.config.path("worker.constraints")
        if not path.is_file():
            raise ImageError(
                f"worker.constraints = {self.config['worker.constraints']!r}: no such file "
                "(set it to '' to build the worker without constraints)"
            )
        return [path]

    @contextmanager
    def _build_context(self, service: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix=f"stackyard-{service}-") as tmp:
            context = Path(tmp) / "context"
            shutil.copytree(self._recipe_dir(service), context)
            if service == "worker":
                self._add_wheelhouse(context)
            yield context

    def _add_wheelhouse(self, context: Path) -> None:
        """Build the worker's dependencies as wheels on this host (pip in a container lacks CAs)."""
        if sys.version_info[:2] != (3, 11):
            raise ImageError(
                "the worker image installs wheels built by this Python, which must be 3.11"
            )
        self._write_requirements(context / "requirements.txt")
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
        command += ["--wheel-dir", str(context / "wheels"), "-r", str(context / "requirements.txt")]
        for constraints in self._constraints():
            command += ["-c", str(constraints)]
        self.log("building the worker's wheelhouse with pip")
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=900, check=False
        )
        if completed.returncode != 0:
            tail = "\n".join(completed.stderr.splitlines()[-BUILD_LOG_TAIL:])
            raise ImageError(f"pip could not build the worker's wheels:\n{tail}")

    def _build(self, context: Path, reference: str, service: str) -> None:
        labels = {LABEL_MANAGED: "true", LABEL_SERVICE: service, LABEL_INPUTS: reference}
        lines: list[str] = []
        stream = self.client.api.build(
            path=str(context),
            tag=reference,
            buildargs={"BASE_IMAGE": self.base_image()},
            labels=labels,
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in stream:
            if "stream" in chunk:
                lines.extend(chunk["stream"].rstrip().splitlines())
            if "error" in chunk:
                tail = "\n".join(lines[-BUILD_LOG_TAIL:])
                raise ImageError(f"building {reference} failed: {chunk['error'].strip()}\n{tail}")


def list_images(client: docker.DockerClient) -> list[tuple[str, str, int, str]]:
    """Images the orchestrator built: (reference, service, size in bytes, created)."""
    rows = []
    for image in client.images.list(filters={"label": f"{LABEL_MANAGED}=true"}):
        service = image.labels.get(LABEL_SERVICE, "?")
        for tag in image.tags or [image.short_id]:
            rows.append((tag, service, int(image.attrs.get("Size", 0)), image.attrs["Created"]))
    return sorted(rows)
