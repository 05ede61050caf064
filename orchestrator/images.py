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
input (Dockerfile directory, base image id; for the worker also its Python,
requirements, constraints and pip index settings), so an unchanged image is found
by its tag and never rebuilt. When the base image can be neither found nor pulled
(no registry), a Debian base is made offline with debootstrap from the machine's
own apt mirror. With ``image_cache`` set, what would be built or debootstrapped is
loaded from that directory when it is there, and saved in it when it is built
(:mod:`orchestrator.image_cache`).

The worker runs the test process's Python minor version (``worker.python``
overrides it) on a base that has it: ``python:X.Y-slim`` in registry mode when
it can be had, else the Debian release that ships X.Y (bookworm 3.11, trixie
3.13). pip resolves its dependencies inside the image build, for that
interpreter and platform, with this machine's pip index settings and CA bundle.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound
from requests.exceptions import RequestException

import orchestrator
from orchestrator import THREAD_PREFIX
from orchestrator.config import Config
from orchestrator.debian import (
    DEFAULT_SUITE,
    base_reference,
    make_debian_base,
    suite_for_python,
)
from orchestrator.engine import LABEL_INPUTS, LABEL_MANAGED, LABEL_SERVICE
from orchestrator.errors import ImageError
from orchestrator.image_cache import ImageCache
from orchestrator.pip_inputs import PipFiles, PipIndex, read_pip_config, redacted
from orchestrator.roles import bindings
from orchestrator.services import SERVICES as REGISTRY
from orchestrator.worker_base import (
    no_base_error,
    version_text,
    worker_base_candidates,
    worker_python,
)

SERVICES = tuple(REGISTRY)


def stack_services(config: Config) -> tuple[str, ...]:
    """The services whose images a stack of this project needs: the servers its roles
    bind to the stack's own, the browser, and the worker when there is a Celery app
    (``worker.app``; a project without Celery needs no requirements)."""
    bound = {b.service for b in bindings(config.values).values() if b.managed}
    wanted = [*sorted(bound), "browser", *(["worker"] if config["worker.app"] else [])]
    return tuple(wanted)


OFFLINE_BASE = base_reference(DEFAULT_SUITE)
# Builds mostly wait on the package mirror; more than this starves 2 cores.
PARALLEL_BUILDS = 3
BUILD_LOG_TAIL = 30
BUILD_TIMEOUT = 1800  # seconds one build step may stay silent
# The classic builder colours a step's stderr and interleaves its own bookkeeping
# (" ---> Running in <id>", "Removing intermediate container <id>").
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
BUILDER_BOOKKEEPING = re.compile(r"^ ---> |^Removing intermediate container ")

Log = Callable[[str], None]


def shipped_recipes() -> Path:
    """The directory of the recipes that come with stackyard.

    In the wheel they sit in ``orchestrator/recipes``; in a source checkout (or an
    editable install) they are the repository's ``docker/``.
    """
    package = Path(orchestrator.__file__).resolve().parent
    installed = package / "recipes"
    return installed if installed.is_dir() else package.parent / "docker"


# --- building ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageReport:
    """What was done to have one service's image: ``present``, ``pulled``, ``loaded``
    (from the image cache) or ``built``."""

    service: str
    reference: str
    action: str
    seconds: float


class ImageBuilder:
    """Resolves the image of each service, pulling or building what is missing.

    ``environ`` is where pip's settings are read from (the process's environment
    unless given).
    """

    def __init__(
        self,
        client: docker.DockerClient,
        config: Config,
        log: Log = print,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.log = log
        self.environ = os.environ if environ is None else environ
        self._base: str | None = None
        self._worker_base: str | None = None
        self._pip_index: PipIndex | None = None
        directory = config.path("image_cache") if config["image_cache"] else None
        self.cache = ImageCache(client, directory, log)

    def ensure(self, services: Iterable[str] = SERVICES) -> dict[str, ImageReport]:
        """Make every service's image available; return what was done for each."""
        wanted = list(services)
        unknown = sorted(set(wanted) - set(SERVICES))
        if unknown:
            raise ImageError(f"no image recipe for service {unknown[0]!r}; known: {SERVICES}")
        # Bases first, one at a time: two builds must not debootstrap the same release.
        for service in wanted:
            if self._is_built(service):
                self._base_for(service)
        with ThreadPoolExecutor(PARALLEL_BUILDS, thread_name_prefix=THREAD_PREFIX) as pool:
            reports = list(pool.map(self._ensure_one, wanted))
        return {report.service: report for report in reports}

    def base_image(self) -> str:
        """The base of built images: the configured one, pulled if needed, else made offline."""
        if self._base is None:
            self._base = self._resolve_base()
        return self._base

    def worker_base(self) -> str:
        """The worker's base: one with its Python (:func:`worker_base_candidates`), found,
        pulled or debootstrapped; :func:`no_base_error` when none can be had."""
        if self._worker_base is None:
            self._worker_base = self._resolve_worker_base()
        return self._worker_base

    def pip_index(self) -> PipIndex:
        """Where pip in the worker image build finds packages (read once)."""
        if self._pip_index is None:
            settings = read_pip_config(self.environ)
            self._pip_index = PipIndex.from_settings(settings, self.environ)
        return self._pip_index

    def reference(self, service: str) -> str:
        """The image a service runs, without making it available."""
        if not self._is_built(service):
            return str(self.config[f"images.{service}"])
        return f"stackyard/{service}:{self.inputs_hash(service)}"

    def inputs_hash(self, service: str) -> str:
        """Hash of everything that goes into a built image (12 hex digits).

        The worker's also covers its Python, requirements, constraints and pip index
        settings (without credentials).
        """
        digest = hashlib.sha256()
        digest.update(self._image_id(self._base_for(service)).encode())
        for path in self._recipe_files(service):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        if service == "worker":
            for part in self._worker_inputs():
                digest.update(part.encode() + b"\0")
        return digest.hexdigest()[:12]

    def _worker_inputs(self) -> list[str]:
        files = self._pip_files()
        return [
            f"python {version_text(worker_python(self.config))}",
            "requirements\n" + "\n".join(files.requirements),
            "constraints\n" + "\n".join(files.constraints),
            "index\n" + self.pip_index().fingerprint(),
        ]

    def _is_built(self, service: str) -> bool:
        if service == "worker":
            return not str(self.config["images.worker"])
        return bool(self.config["image_mode"] == "build")

    def _base_for(self, service: str) -> str:
        return self.worker_base() if service == "worker" else self.base_image()

    def _ensure_one(self, service: str) -> ImageReport:
        started = time.monotonic()
        if not self._is_built(service):
            reference = str(self.config[f"images.{service}"])
            action = self._present_or_pulled(reference, service)
            return ImageReport(service, reference, action, time.monotonic() - started)
        reference = self.reference(service)
        if self._exists(reference):
            return ImageReport(service, reference, "present", time.monotonic() - started)
        if self.cache.load(reference):
            return ImageReport(service, reference, "loaded", time.monotonic() - started)
        self.log(
            f"building {reference} from {self._recipe_dir(service)} on {self._base_for(service)}"
        )
        with self._build_context(service) as context:
            self._build(context, reference, service)
        self.cache.save(reference)
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
            if self.cache.load(OFFLINE_BASE):
                return OFFLINE_BASE
            self.log(f"{error}; making {OFFLINE_BASE} offline with debootstrap")
        make_debian_base(self.client, OFFLINE_BASE, self.log)
        self.cache.save(OFFLINE_BASE)
        return OFFLINE_BASE

    def _resolve_worker_base(self) -> str:
        version = worker_python(self.config)
        mode = str(self.config["image_mode"])
        candidates = worker_base_candidates(version, mode, str(self.config["base_image"]))
        for candidate in candidates:
            if self._exists(candidate):
                return candidate
        suite = suite_for_python(version)
        offline = base_reference(suite) if suite else ""
        pull_errors = []
        for candidate in candidates:
            if candidate == offline:
                continue
            try:
                self._pull(candidate)
                return candidate
            except ImageError as error:
                pull_errors.append(str(error))
        if not suite:
            raise no_base_error(version, mode, pull_errors)
        if self.cache.load(offline):
            return offline
        self.log(f"making {offline} (Python {version_text(version)}) with debootstrap")
        make_debian_base(self.client, offline, self.log, suite=suite)
        self.cache.save(offline)
        return offline

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

    def _recipe_files(self, service: str) -> list[Path]:
        directory = self._recipe_dir(service)
        return sorted(path for path in directory.rglob("*") if path.is_file())

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

    def _pip_files(self) -> PipFiles:
        """The worker's requirements and constraints as pip in the image gets them.

        ``pyproject.toml`` stands for its ``[project].dependencies``.
        """
        files = PipFiles()
        source = self._requirements()
        if source.name == "pyproject.toml":
            for line in self._project_dependencies(source):
                files.add_line(line, as_constraints=False, origin=source)
        else:
            files.add_file(source, as_constraints=False)
        for constraints in self._constraints():
            files.add_file(constraints, as_constraints=True)
        return files

    def _project_dependencies(self, pyproject: Path) -> list[str]:
        table = tomllib.loads(pyproject.read_text()).get("project", {})
        dependencies = table.get("dependencies") if isinstance(table, dict) else None
        if not isinstance(dependencies, list):
            raise ImageError(
                f"worker.requirements = {self.config['worker.requirements']!r}: {pyproject} "
                "has no [project].dependencies list; name a requirements file instead"
            )
        return [str(line) for line in dependencies]

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
        """A copy of the recipe (plus the worker's pip inputs) in a private temporary
        directory (mode 0700: pip.conf may hold credentials), removed afterwards."""
        with tempfile.TemporaryDirectory(prefix=f"stackyard-{service}-") as tmp:
            context = Path(tmp) / "context"
            shutil.copytree(self._recipe_dir(service), context)
            if service == "worker":
                self._add_pip_inputs(context)
            yield context

    def _add_pip_inputs(self, context: Path) -> None:
        """requirements.txt, constraints.txt, pip.conf and ca.pem, as the recipe expects."""
        files = self._pip_files()
        index = self.pip_index()
        (context / "requirements.txt").write_text("".join(f"{r}\n" for r in files.requirements))
        (context / "constraints.txt").write_text("".join(f"{c}\n" for c in files.constraints))
        (context / "pip.conf").write_text(index.pip_conf())
        if index.ca_bundle is not None:
            shutil.copyfile(index.ca_bundle, context / "ca.pem")
        else:
            (context / "ca.pem").write_text("")
        if index.host_only:
            self.log(
                "pip in the worker image build skips locations only this machine has: "
                + ", ".join(redacted(url) for url in index.host_only)
            )

    def _build_args(self, service: str) -> dict[str, str]:
        args = {"BASE_IMAGE": self._base_for(service)}
        if service == "worker":
            args["PYTHON_VERSION"] = version_text(worker_python(self.config))
        return args

    def _build(self, context: Path, reference: str, service: str) -> None:
        labels = {LABEL_MANAGED: "true", LABEL_SERVICE: service, LABEL_INPUTS: reference}
        lines: list[str] = []
        try:
            stream = self.client.api.build(
                path=str(context),
                tag=reference,
                buildargs=self._build_args(service),
                labels=labels,
                rm=True,
                forcerm=True,
                decode=True,
                # A step may print nothing for minutes (pip compiling an sdist): the
                # client's usual read timeout would cut the build off.
                timeout=BUILD_TIMEOUT,
            )
            for chunk in stream:
                if "stream" in chunk:
                    lines.extend(ANSI_ESCAPE.sub("", chunk["stream"]).rstrip().splitlines())
                if "error" in chunk:
                    raise self._build_failure(reference, service, chunk["error"].strip(), lines)
        except (RequestException, DockerException) as error:
            tail = "\n".join(lines[-BUILD_LOG_TAIL:])
            raise ImageError(f"building {reference} failed: {error}\n{tail}") from None

    def _build_failure(
        self, reference: str, service: str, error: str, lines: list[str]
    ) -> ImageError:
        """The build's error with the failing step's own output; for pip, pip's error
        and a hint instead of Docker's 'returned a non-zero code'."""
        starts = [i for i, line in enumerate(lines) if line.startswith("Step ")]
        step = lines[starts[-1]] if starts else ""
        output = lines[starts[-1] + 1 :] if starts else lines
        output = [line for line in output if line.strip() and not BUILDER_BOOKKEEPING.match(line)]
        tail = "\n".join(output[-BUILD_LOG_TAIL:])
        if service != "worker" or "pip install" not in step:
            return ImageError(f"building {reference} failed: {error}\n{tail}")
        version = version_text(worker_python(self.config))
        advice = (
            "pins in worker.constraints made for another Python or platform may not exist "
            "there: re-pin them, or set worker.constraints = ''"
            if self._constraints()
            else "every requirement must exist there for that Python and platform"
        )
        return ImageError(
            f"pip could not install the worker's dependencies for Python {version} on "
            f"{self.worker_base()}:\n{tail}\n"
            f"hint: pip resolved them inside the image, for Python {version} on Linux, from "
            f"{self.pip_index().describe()} (this machine's pip settings); {advice}"
        )


def list_images(client: docker.DockerClient) -> list[tuple[str, str, int, str]]:
    """Images the orchestrator built: (reference, service, size in bytes, created)."""
    rows = []
    for image in client.images.list(filters={"label": f"{LABEL_MANAGED}=true"}):
        service = image.labels.get(LABEL_SERVICE, "?")
        for tag in image.tags or [image.short_id]:
            rows.append((tag, service, int(image.attrs.get("Size", 0)), image.attrs["Created"]))
    return sorted(rows)
