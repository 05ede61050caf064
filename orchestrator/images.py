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
own apt mirror.

The worker runs the test process's Python minor version (``worker.python``
overrides it) on a base that has it: ``python:X.Y-slim`` in registry mode when
it can be had, else the Debian release that ships X.Y (bookworm 3.11, trixie
3.13). pip resolves its dependencies inside the image build, for that
interpreter and platform, with this machine's pip index settings and CA bundle.
"""

from __future__ import annotations

import ast
import configparser
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import docker
from docker.errors import APIError, DockerException, ImageNotFound
from requests.exceptions import RequestException

import orchestrator
from orchestrator.config import Config
from orchestrator.debian import (
    DEFAULT_SUITE,
    SUITE_PYTHON,
    base_reference,
    make_debian_base,
    suite_for_python,
)
from orchestrator.engine import LABEL_INPUTS, LABEL_MANAGED, LABEL_SERVICE, THREAD_PREFIX
from orchestrator.errors import ConfigError, ImageError

SERVICES = ("redis", "rabbitmq", "browser", "worker")


def stack_services(config: Config) -> tuple[str, ...]:
    """The services whose images a stack of this project needs: no worker without a
    Celery app (``worker.app``), so a project without Celery needs no requirements."""
    return SERVICES if config["worker.app"] else tuple(s for s in SERVICES if s != "worker")


REGISTRY_SERVICES = ("redis", "rabbitmq", "browser")
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
Version = tuple[int, int]


def shipped_recipes() -> Path:
    """The directory of the recipes that come with stackyard.

    In the wheel they sit in ``orchestrator/recipes``; in a source checkout (or an
    editable install) they are the repository's ``docker/``.
    """
    package = Path(orchestrator.__file__).resolve().parent
    installed = package / "recipes"
    return installed if installed.is_dir() else package.parent / "docker"


# --- the worker's Python and its base ------------------------------------------------


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


# --- this machine's pip index settings -----------------------------------------------

# The sections `pip install` reads, later ones winning (PIP_* variables are ":env:").
PIP_SECTIONS = ("global", "install", ":env:")
# Where requests (pip's HTTP library) and OpenSSL are told of a CA bundle, when pip's own
# `cert` is not set.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CA_BUNDLE = "/stackyard/ca.pem"
REMOTE_SCHEMES = ("http", "https")


def parse_pip_config(listing: str) -> dict[str, str]:
    """The settings ``pip install`` uses, from the output of ``pip config list``.

    ``global.index-url='https://a/simple'`` then ``:env:.index-url='https://b/simple'``
    give ``{"index-url": "https://b/simple"}``: like pip, a later section replaces a
    value (lists are not merged).
    """
    by_section: dict[str, dict[str, str]] = {}
    for line in listing.splitlines():
        name, equals, raw = line.partition("=")
        section, dot, key = name.partition(".")
        if not (equals and dot) or section not in PIP_SECTIONS:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue  # pip prints repr(); anything else is not a setting
        by_section.setdefault(section, {})[key.replace("_", "-")] = str(value)
    merged: dict[str, str] = {}
    for section in PIP_SECTIONS:
        merged.update(by_section.get(section, {}))
    return merged


def read_pip_config(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """This machine's pip settings as ``pip install`` in this environment would use them.

    Read from pip's own files and variables, in pip's order (global files, the user's,
    the environment's, ``PIP_CONFIG_FILE``, then ``PIP_*``), instead of asking
    ``pip config list``: that costs half a second, paid by every stack start and attach.
    """
    environ = dict(os.environ if environ is None else environ)
    lines: list[str] = []
    for path in _pip_config_files(environ):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue  # pip itself would stop on it; the image build will say so
        for section in parser.sections():
            lines += [f"{section}.{key}={value!r}" for key, value in parser.items(section)]
    lines += [
        f":env:.{name[4:].lower().replace('_', '-')}={value!r}"
        for name, value in environ.items()
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE"
    ]
    return parse_pip_config("\n".join(lines))


def _pip_config_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files that exist, lowest precedence first."""
    explicit = environ.get("PIP_CONFIG_FILE", "")
    if explicit == os.devnull:
        return []
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "") or "/etc/xdg"
    home = Path(environ.get("HOME", "~")).expanduser()
    config_home = Path(environ.get("XDG_CONFIG_HOME", "") or home / ".config")
    files = [Path(folder) / "pip" / "pip.conf" for folder in reversed(xdg_dirs.split(":"))]
    files.append(Path("/etc/pip.conf"))
    if not (explicit and Path(explicit).exists()):  # pip skips the user's then
        files += [home / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return [path for path in files if path.is_file()]


def redacted(url: str) -> str:
    """``url`` without its user and password: ``https://***@host/simple``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class PipIndex:
    """Where pip in the worker image build finds packages: this machine's settings,
    less the locations that exist only on this machine.

    Example (host: ``extra-index-url = https://u:p@pkgs.example/simple file:///opt/pypi``)::

        PipIndex(index_url="", extra_index_urls=("https://u:p@pkgs.example/simple",),
                 trusted_hosts=(), find_links=(),
                 ca_bundle=Path("/etc/ssl/certs/ca-certificates.crt"),
                 host_only=("file:///opt/pypi",))

    ``index_url`` '' is pip's default (PyPI). Only :meth:`pip_conf` holds credentials;
    :meth:`fingerprint` and :meth:`describe` never do.
    """

    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    ca_bundle: Path | None = None
    host_only: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, str], environ: Mapping[str, str] | None = None
    ) -> PipIndex:
        """From ``pip config list``'s settings (:func:`parse_pip_config`) and the environment."""
        environ = os.environ if environ is None else environ
        locations = {
            key: settings.get(key, "").split()
            for key in ("index-url", "extra-index-url", "find-links")
        }
        remote = {
            key: tuple(url for url in urls if urlsplit(url).scheme in REMOTE_SCHEMES)
            for key, urls in locations.items()
        }
        host_only = tuple(
            url
            for urls in locations.values()
            for url in urls
            if urlsplit(url).scheme not in REMOTE_SCHEMES
        )
        return cls(
            index_url=next(iter(remote["index-url"]), ""),
            extra_index_urls=remote["extra-index-url"],
            trusted_hosts=tuple(settings.get("trusted-host", "").split()),
            find_links=remote["find-links"],
            ca_bundle=_ca_bundle(settings, environ),
            host_only=host_only,
        )

    def pip_conf(self) -> str:
        """A pip configuration file for the image build (credentials included)."""
        lines = ["[global]"]
        for key, values in (
            ("index-url", (self.index_url,) if self.index_url else ()),
            ("extra-index-url", self.extra_index_urls),
            ("trusted-host", self.trusted_hosts),
            ("find-links", self.find_links),
            ("cert", (IMAGE_CA_BUNDLE,) if self.ca_bundle else ()),
        ):
            if values:
                lines.append(f"{key} = {' '.join(values)}")
        return "\n".join(lines) + "\n"

    def fingerprint(self) -> str:
        """What changes the resolved packages, credentials left out (they change nothing,
        and a hash of a password in an image tag could be guessed offline)."""
        return "\n".join(
            [
                redacted(self.index_url),
                *map(redacted, self.extra_index_urls),
                *self.trusted_hosts,
                *map(redacted, self.find_links),
            ]
        )

    def describe(self) -> str:
        """The indexes for a message: ``indexes https://***@pkgs.example/simple``."""
        urls = [redacted(url) for url in (self.index_url, *self.extra_index_urls) if url]
        return "indexes " + ", ".join(urls) if urls else "PyPI, pip's default index"


def _ca_bundle(settings: Mapping[str, str], environ: Mapping[str, str]) -> Path | None:
    """The CA bundle pip here trusts: pip's ``cert``, the usual variables, the system's."""
    named = [settings.get("cert", ""), *(environ.get(name, "") for name in CA_BUNDLE_VARIABLES)]
    for candidate in [*(Path(name) for name in named if name), SYSTEM_CA_BUNDLE]:
        if candidate.is_file():
            return candidate
    return None


# --- the worker's requirements -------------------------------------------------------

# pip's own rule: "#" starts a comment at the start of a line or after whitespace.
COMMENT = re.compile(r"(^|\s+)#.*$")
INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|\s*=\s*)(\S+)$")
# Installs from this machine's disk: an editable install, a path, a file: URL.
LOCAL = re.compile(r"^(-e|--editable)\b|^\.{0,2}/|(^|[\s@])file:")


@dataclass
class PipFiles:
    """The lines of the requirements and constraints files pip gets in the image.

    Files named by ``-r``/``-c`` exist only on this machine, so their lines are
    inlined: ``-r base.txt`` becomes base.txt's requirements, ``-c pins.txt`` its
    constraints.
    """

    requirements: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)

    def add_file(
        self, path: Path, as_constraints: bool, seen: frozenset[Path] = frozenset()
    ) -> None:
        """Add ``path``'s lines; an include cycle is skipped (pip would loop)."""
        path = path.resolve()
        if path in seen:
            return
        if not path.is_file():
            raise ImageError(
                f"{path}: no such file (named by -r or -c in the worker's requirements)"
            )
        for line in _logical_lines(path.read_text()):
            include = INCLUDE.match(line)
            if include and urlsplit(include[2]).scheme not in REMOTE_SCHEMES:
                constraint = as_constraints or include[1] in ("-c", "--constraint")
                self.add_file(path.parent / include[2], constraint, seen | {path})
                continue
            self.add_line(line, as_constraints, origin=path)

    def add_line(self, line: str, as_constraints: bool, origin: Path) -> None:
        """Add one requirement or constraint; one on this machine's disk is an error."""
        if LOCAL.search(line):
            raise ImageError(
                f"{origin}: {line!r} installs from this machine's disk, which the worker "
                "image build cannot see. The project's own source is mounted at /app: "
                "drop the line; other packages must come from an index, or name a ready "
                "image in images.worker"
            )
        (self.constraints if as_constraints else self.requirements).append(line)


def _logical_lines(text: str) -> Iterator[str]:
    """Non-empty lines, comments removed and backslash continuations joined, as pip reads."""
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = COMMENT.sub("", pending + raw).strip()
        pending = ""
        if line:
            yield line


# --- building ------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageReport:
    """What was done to have one service's image: ``present``, ``pulled`` or ``built``."""

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
        self.log(
            f"building {reference} from {self._recipe_dir(service)} on {self._base_for(service)}"
        )
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
        self.log(f"making {offline} (Python {version_text(version)}) with debootstrap")
        make_debian_base(self.client, offline, self.log, suite=suite)
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
