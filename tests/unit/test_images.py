"""The worker image without Docker: its Python and base, this machine's pip settings, the
requirements pip gets, what the image tag covers, and how a pip failure reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from docker.errors import APIError, ImageNotFound

from orchestrator import images, pip_inputs
from orchestrator.config import Config, load_config
from orchestrator.debian import apt_mirror, suite_for_python
from orchestrator.errors import ConfigError, ImageError
from orchestrator.images import ImageBuilder
from orchestrator.pip_inputs import PipFiles, PipIndex, parse_pip_config, read_pip_config
from orchestrator.worker_base import worker_base_candidates, worker_python

PIP_FAILURE = [
    "Step 8/14 : COPY requirements.txt constraints.txt pip.conf ca.pem /stackyard/",
    " ---> 1f2e3d4c5b6a",
    "Step 9/14 : RUN PIP_CONFIG_FILE=/stackyard/pip.conf /opt/venv/bin/pip install -r x",
    " ---> Running in 0a1b2c3d4e5f",
    "Collecting nope==9",
    "\x1b[91mERROR: Could not find a version that satisfies nope==9 (from versions: 1)",
    "\x1b[0m",
    "\x1b[91mERROR: No matching distribution found for nope==9",
    "\x1b[0m",
    "Removing intermediate container 0a1b2c3d4e5f",
]


class FakeImages:
    """The engine's images: ``present`` maps reference → id; pulls fail (no registry)."""

    def __init__(self, present: dict[str, str]) -> None:
        self.present = present
        self.pulls: list[str] = []

    def get(self, reference: str) -> SimpleNamespace:
        if reference not in self.present:
            raise ImageNotFound(reference)
        return SimpleNamespace(id=self.present[reference])

    def pull(self, reference: str) -> None:
        self.pulls.append(reference)
        raise APIError("no registry here")


class FakeAPI:
    """``build`` records its arguments and the context's files, then streams ``lines``."""

    def __init__(self, lines: list[str], error: str) -> None:
        self.lines = lines
        self.error = error
        self.calls: list[dict[str, Any]] = []
        self.context: dict[str, str] = {}

    def build(self, **kwargs: Any) -> Iterator[dict[str, str]]:
        self.calls.append(kwargs)
        context = Path(kwargs["path"])
        self.context = {path.name: path.read_text() for path in context.iterdir()}
        yield from ({"stream": line + "\n"} for line in self.lines)
        if self.error:
            yield {"error": self.error}


class FakeClient:
    def __init__(self, present: dict[str, str], lines: Sequence[str] = (), error: str = "") -> None:
        self.images = FakeImages(present)
        self.api = FakeAPI(list(lines), error)


def project(tmp_path: Path, table: str = "", **environ: str) -> Config:
    """A project with a worker requirements file and ``table`` in [tool.orchestrator]."""
    (tmp_path / "requirements.txt").write_text("redis==8.1.0\n")
    (tmp_path / "constraints.txt").write_text("async-timeout==5.0.1\n")
    (tmp_path / "pyproject.toml").write_text(
        "[tool.orchestrator]\n"
        + textwrap.dedent(table)
        + "[tool.orchestrator.worker]\nrequirements = 'requirements.txt'\n"
        "constraints = 'constraints.txt'\n"
    )
    return load_config(tmp_path, environ=environ)


@pytest.fixture
def pip_settings(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This machine's pip settings as the builder reads them (no pip subprocess)."""
    settings = {"index-url": "https://user:secret@pkgs.test/simple"}
    monkeypatch.setattr(images, "read_pip_config", lambda environ=None: settings)
    return settings


# --- the worker's Python and its base -------------------------------------------------


def test_worker_python_is_this_process_s_unless_overridden(tmp_path):
    assert worker_python(project(tmp_path)) == sys.version_info[:2]
    assert worker_python(project(tmp_path, ORCHESTRATOR_WORKER_PYTHON="3.13")) == (3, 13)


@pytest.mark.parametrize("value", ["3", "3.13.1", "python3.13", "2.7"])
def test_a_malformed_worker_python_names_the_key_and_the_format(tmp_path, value):
    config = project(tmp_path, ORCHESTRATOR_WORKER_PYTHON=value)

    with pytest.raises(ConfigError, match=r"worker\.python = .*expected a Python version like"):
        worker_python(config)


@pytest.mark.parametrize(
    ("version", "suite"), [((3, 11), "bookworm"), ((3, 13), "trixie"), ((3, 12), None)]
)
def test_each_debian_release_ships_one_python(version, suite):
    assert suite_for_python(version) == suite


@pytest.mark.parametrize(
    ("version", "mode", "configured", "expected"),
    [
        (
            (3, 11),
            "build",
            "debian:bookworm-slim",
            ["debian:bookworm-slim", "stackyard/debian-base:bookworm"],
        ),
        (
            (3, 13),
            "build",
            "debian:bookworm-slim",
            ["debian:trixie-slim", "stackyard/debian-base:trixie"],
        ),
        (
            (3, 13),
            "registry",
            "debian:bookworm-slim",
            ["python:3.13-slim", "debian:trixie-slim", "stackyard/debian-base:trixie"],
        ),
        (
            (3, 13),
            "build",
            "mirror.test/debian:trixie-slim",
            [
                "mirror.test/debian:trixie-slim",
                "debian:trixie-slim",
                "stackyard/debian-base:trixie",
            ],
        ),
        ((3, 12), "registry", "debian:bookworm-slim", ["python:3.12-slim"]),
        ((3, 12), "build", "debian:bookworm-slim", []),
    ],
)
def test_worker_base_candidates_have_the_worker_s_python(version, mode, configured, expected):
    assert worker_base_candidates(version, mode, configured) == expected


def test_a_python_no_base_provides_is_one_error_naming_the_bases_and_the_fixes(tmp_path):
    config = project(tmp_path, "image_mode = 'build'\n", ORCHESTRATOR_WORKER_PYTHON="3.12")
    client = FakeClient({})

    with pytest.raises(ImageError) as error:
        ImageBuilder(client, config, log=lambda message: None).worker_base()

    message = str(error.value)
    assert "no base image provides Python 3.12 for the worker image" in message
    assert "bookworm (3.11), trixie (3.13)" in message
    assert "set image_mode = 'registry'" in message
    assert "python:3.12-slim" in message
    assert "images.worker" in message
    assert "\n" not in message
    assert client.images.pulls == []


def test_in_registry_mode_the_missing_python_image_is_named(tmp_path):
    config = project(tmp_path, "image_mode = 'registry'\n", ORCHESTRATOR_WORKER_PYTHON="3.12")

    with pytest.raises(ImageError, match=r"cannot pull python:3\.12-slim: no registry here\. "):
        ImageBuilder(FakeClient({}), config, log=lambda message: None).worker_base()


def test_without_a_registry_the_worker_base_is_debootstrapped_from_its_python_s_release(
    tmp_path, monkeypatch
):
    made: list[tuple[str, str]] = []
    monkeypatch.setattr(
        images,
        "make_debian_base",
        lambda client, reference, log, suite: made.append((reference, suite)),
    )
    config = project(tmp_path, "image_mode = 'registry'\n", ORCHESTRATOR_WORKER_PYTHON="3.13")
    client = FakeClient({})

    base = ImageBuilder(client, config, log=lambda message: None).worker_base()

    assert base == "stackyard/debian-base:trixie"
    assert made == [("stackyard/debian-base:trixie", "trixie")]
    assert client.images.pulls == ["python:3.13-slim", "debian:trixie-slim"]


def test_a_present_base_is_used_without_pulling(tmp_path):
    config = project(tmp_path, "image_mode = 'build'\n", ORCHESTRATOR_WORKER_PYTHON="3.13")
    client = FakeClient({"stackyard/debian-base:trixie": "sha256:1"})

    assert ImageBuilder(client, config).worker_base() == "stackyard/debian-base:trixie"
    assert client.images.pulls == []


def test_a_release_the_machine_does_not_list_comes_from_the_same_debian_archive(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: https://deb.nodesource.test/node_20.x\nSuites: nodistro\n\n"
        "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\n"
    )

    assert apt_mirror(tmp_path, suite="trixie") == "http://mirror.test/debian"
    assert apt_mirror(tmp_path, suite="bookworm-security") == "http://mirror.test/debian-security"


# --- this machine's pip settings ------------------------------------------------------


def test_pip_settings_follow_pip_s_precedence():
    listing = textwrap.dedent(
        """\
        global.index-url='https://global.test/simple'
        global.trusted-host='global.test'
        download.index-url='https://download-only.test/simple'
        install.index-url='https://install.test/simple'
        :env:.extra-index-url='https://env.test/simple'
        global.extra-index-url='https://ignored.test/simple'
        not a setting
        """
    )

    assert parse_pip_config(listing) == {
        "index-url": "https://install.test/simple",
        "trusted-host": "global.test",
        "extra-index-url": "https://env.test/simple",
    }


def test_pip_settings_are_read_from_pip_s_configuration_and_variables(tmp_path):
    (tmp_path / "pip.conf").write_text(
        "[global]\nindex-url = https://user:secret@pkgs.test/simple\n"
        "[install]\ntrusted-host = pkgs.test\n"
    )
    environ = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "PIP_CONFIG_FILE": str(tmp_path / "pip.conf"),
        "PIP_EXTRA_INDEX_URL": "https://extra.test/simple file:///opt/local/simple",
    }

    settings = read_pip_config(environ)

    assert settings["index-url"] == "https://user:secret@pkgs.test/simple"
    assert settings["trusted-host"] == "pkgs.test"
    assert settings["extra-index-url"] == "https://extra.test/simple file:///opt/local/simple"


def test_pip_settings_are_read_without_running_pip(monkeypatch, tmp_path):
    # Reading them must cost no subprocess: every stack start and attach does it.
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    monkeypatch.setattr(subprocess, "run", None)
    environ = {"PIP_INDEX_URL": "https://pkgs.test/simple", "HOME": str(tmp_path)}
    environ["PIP_CONFIG_FILE"] = os.devnull

    assert read_pip_config(environ) == {"index-url": "https://pkgs.test/simple"}


def test_pip_settings_agree_with_pip_config_list():
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    assert read_pip_config() == parse_pip_config(listing)


def test_locations_only_this_machine_has_are_left_out(tmp_path):
    bundle = tmp_path / "corporate.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = {
        "index-url": "file:///opt/pypi/simple",
        "extra-index-url": "https://pkgs.test/simple file:///opt/more/simple",
        "find-links": "/opt/wheels https://wheels.test/",
        "trusted-host": "pkgs.test wheels.test",
        "cert": str(bundle),
    }

    index = PipIndex.from_settings(settings, environ={})

    assert index == PipIndex(
        index_url="",
        extra_index_urls=("https://pkgs.test/simple",),
        trusted_hosts=("pkgs.test", "wheels.test"),
        find_links=("https://wheels.test/",),
        ca_bundle=bundle,
    )
    assert index.host_only == ("file:///opt/pypi/simple", "file:///opt/more/simple", "/opt/wheels")


def test_the_ca_bundle_falls_back_to_the_usual_variables_then_none(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("")
    monkeypatch.setattr(pip_inputs, "SYSTEM_CA_BUNDLE", tmp_path / "absent.pem")
    missing = {"cert": str(tmp_path / "gone.pem")}

    assert PipIndex.from_settings(missing, {"SSL_CERT_FILE": str(bundle)}).ca_bundle == bundle
    assert PipIndex.from_settings(missing, {}).ca_bundle is None


def test_only_the_build_s_pip_conf_holds_credentials():
    index = PipIndex(
        index_url="https://user:secret@pkgs.test/simple",
        extra_index_urls=("https://token@extra.test/simple",),
        ca_bundle=Path("/etc/ssl/certs/ca-certificates.crt"),
    )
    other_password = PipIndex(
        index_url="https://user:changed@pkgs.test/simple",
        extra_index_urls=("https://other@extra.test/simple",),
    )

    assert index.pip_conf() == (
        "[global]\nindex-url = https://user:secret@pkgs.test/simple\n"
        "extra-index-url = https://token@extra.test/simple\ncert = /stackyard/ca.pem\n"
    )
    for shown in (index.fingerprint(), index.describe()):
        assert "secret" not in shown
        assert "token" not in shown
    assert index.fingerprint() == other_password.fingerprint()
    assert PipIndex().describe() == "PyPI, pip's default index"


# --- the requirements pip gets ----------------------------------------------------------


def test_included_files_are_inlined_as_requirements_or_constraints(tmp_path):
    (tmp_path / "base.txt").write_text("django>=5.2  # the web framework\n-c pins.txt\n")
    (tmp_path / "pins.txt").write_text("django==5.2.19\n-r pins.txt\n")
    (tmp_path / "requirements.txt").write_text(
        "# worker\n-r base.txt\ncelery[redis] \\\n  >=5.7\n--requirement=base.txt\n"
    )
    files = PipFiles()

    files.add_file(tmp_path / "requirements.txt", as_constraints=False)

    assert files.requirements == ["django>=5.2", "celery[redis]   >=5.7", "django>=5.2"]
    assert files.constraints == ["django==5.2.19", "django==5.2.19"]


@pytest.mark.parametrize("line", ["-e .", "./libs/billing", "billing @ file:///src/billing"])
def test_a_requirement_on_this_machine_s_disk_is_an_error_with_the_fix(tmp_path, line):
    (tmp_path / "requirements.txt").write_text(f"celery\n{line}\n")

    with pytest.raises(ImageError, match=r"installs from this machine's disk.*mounted at /app"):
        PipFiles().add_file(tmp_path / "requirements.txt", as_constraints=False)


# --- what the tag covers ----------------------------------------------------------------


def worker_hash(tmp_path: Path, python: str = "3.13", constraints: str = "") -> str:
    config = project(tmp_path, "image_mode = 'build'\n", ORCHESTRATOR_WORKER_PYTHON=python)
    if constraints:
        (tmp_path / "constraints.txt").write_text(constraints)
    present = {
        "stackyard/debian-base:bookworm": "sha256:b",
        "stackyard/debian-base:trixie": "sha256:t",
    }
    return ImageBuilder(FakeClient(present), config).inputs_hash("worker")


def test_the_worker_tag_covers_python_base_requirements_constraints_and_index(
    tmp_path, pip_settings
):
    first = worker_hash(tmp_path)
    assert worker_hash(tmp_path) == first
    assert worker_hash(tmp_path, python="3.11") != first
    assert worker_hash(tmp_path, constraints="async-timeout==4.0.3\n") != first
    (tmp_path / "constraints.txt").write_text("async-timeout==5.0.1\n")

    pip_settings["index-url"] = "https://user:rotated@pkgs.test/simple"
    assert worker_hash(tmp_path) == first, "a new password resolves the same packages"
    pip_settings["index-url"] = "https://other.test/simple"
    assert worker_hash(tmp_path) != first

    (tmp_path / "requirements.txt").write_text("redis==8.0.0\n")
    config = load_config(tmp_path, environ={"ORCHESTRATOR_WORKER_PYTHON": "3.13"})
    builder = ImageBuilder(FakeClient({"stackyard/debian-base:trixie": "sha256:t"}), config)
    assert builder.inputs_hash("worker") != first


# --- building ---------------------------------------------------------------------------


def test_a_pip_failure_shows_pip_s_error_and_a_hint(tmp_path, pip_settings):
    config = project(tmp_path, "image_mode = 'build'\n", ORCHESTRATOR_WORKER_PYTHON="3.13")
    client = FakeClient(
        {"stackyard/debian-base:trixie": "sha256:t"},
        PIP_FAILURE,
        "The command '/bin/sh -c PIP_CONFIG_FILE=...' returned a non-zero code: 1",
    )

    with pytest.raises(ImageError) as error:
        ImageBuilder(client, config, log=lambda message: None).ensure(["worker"])

    lines = str(error.value).splitlines()
    assert lines[0] == (
        "pip could not install the worker's dependencies for Python 3.13 on "
        "stackyard/debian-base:trixie:"
    )
    assert lines[1:4] == [
        "Collecting nope==9",
        "ERROR: Could not find a version that satisfies nope==9 (from versions: 1)",
        "ERROR: No matching distribution found for nope==9",
    ]
    assert lines[4].startswith("hint: pip resolved them inside the image, for Python 3.13 on Linux")
    assert "from indexes https://***@pkgs.test/simple" in lines[4]
    assert lines[4].endswith("re-pin them, or set worker.constraints = ''")
    assert len(lines) == 5
    assert "secret" not in str(error.value)


def test_the_worker_build_gets_its_python_its_base_and_pip_s_inputs(tmp_path, pip_settings):
    config = project(tmp_path, "image_mode = 'build'\n", ORCHESTRATOR_WORKER_PYTHON="3.13")
    client = FakeClient({"stackyard/debian-base:trixie": "sha256:t"}, ["Step 1/1 : FROM x"])

    report = ImageBuilder(client, config, log=lambda message: None).ensure(["worker"])["worker"]

    call = client.api.calls[0]
    assert call["buildargs"] == {
        "BASE_IMAGE": "stackyard/debian-base:trixie",
        "PYTHON_VERSION": "3.13",
    }
    assert "secret" not in repr(call["labels"])
    assert call["labels"]["io.stackyard.inputs"] == report.reference
    context = client.api.context
    assert context["requirements.txt"] == "redis==8.1.0\n"
    assert context["constraints.txt"] == "async-timeout==5.0.1\n"
    assert "index-url = https://user:secret@pkgs.test/simple" in context["pip.conf"]
    assert {"Dockerfile", "boot.py", "ca.pem"} <= set(context)


def test_another_step_s_failure_keeps_docker_s_error(tmp_path, pip_settings):
    config = project(tmp_path, "image_mode = 'build'\n", ORCHESTRATOR_WORKER_PYTHON="3.13")
    client = FakeClient(
        {"stackyard/debian-base:trixie": "sha256:t"},
        ["Step 3/14 : RUN apt-get update", " ---> Running in 0a1b", "E: mirror unreachable"],
        "The command '/bin/sh -c apt-get update' returned a non-zero code: 100",
    )

    with pytest.raises(ImageError, match=r"failed: The command .* code: 100\nE: mirror"):
        ImageBuilder(client, config, log=lambda message: None).ensure(["worker"])


class Importer:
    """An engine after an import: which names it has, and the tags asked of it."""

    def __init__(self, names):
        self.names = set(names)
        self.tagged = []
        self.api = self
        self.images = self

    def tag(self, image, repository, tag):
        self.tagged.append((image, f"{repository}:{tag}"))
        self.names.add(f"{repository}:{tag}")

    def get(self, reference):
        if reference not in self.names:
            raise ImageNotFound(reference)
        return reference


IMPORTED_ID = "sha256:" + "8" * 64
PODMAN_IMPORT = json.dumps({"status": IMPORTED_ID, "progress": "", "id": IMPORTED_ID}) + "\n"


def test_a_debootstrapped_base_is_named_as_asked_whatever_the_import_named_it():
    from orchestrator.debian import name_imported

    # Podman 4.3: the import is named docker.io/stackyard/debian-base:latest.
    engine = Importer({"docker.io/stackyard/debian-base:latest"})

    name_imported(engine, PODMAN_IMPORT, "stackyard/debian-base", "bookworm")

    assert engine.tagged == [(IMPORTED_ID, "stackyard/debian-base:bookworm")]


def test_an_import_the_engine_does_not_name_is_one_error_with_its_answer():
    from orchestrator.debian import name_imported

    with pytest.raises(ImageError, match="has no stackyard/debian-base:bookworm") as error:
        name_imported(Importer(set()), '{"status":"done"}', "stackyard/debian-base", "bookworm")
    assert "\n" not in str(error.value)
