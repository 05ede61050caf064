"""Where the engine runs: DOCKER_HOST, Docker contexts, and what a remote engine changes
(ports reached at its address, files copied in instead of mounted)."""

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from orchestrator.engine import (
    address_towards,
    engine_is_local,
    engine_url,
    published_host,
)
from orchestrator.spec import Mount
from orchestrator.stack import REMOTE_PORTS, copy_into


@pytest.fixture
def no_engine_settings(monkeypatch, tmp_path):
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "TESTCONTAINERS_HOST_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    return tmp_path / "docker-config"


def make_context(config_dir, name, host, current=True):
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": False}
    meta.joinpath("meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    config_dir.joinpath("config.json").write_text(
        json.dumps({"currentContext": name} if current else {})
    )


def test_the_default_socket_is_a_local_engine(no_engine_settings):
    assert engine_url() == ""
    assert engine_is_local()
    assert published_host() == "127.0.0.1"


@pytest.mark.parametrize(
    ("docker_host", "local", "host"),
    [
        ("unix:///run/user/1000/podman/podman.sock", True, "127.0.0.1"),
        ("tcp://127.0.0.1:2375", True, "127.0.0.1"),
        ("tcp://10.201.0.2:2375", False, "10.201.0.2"),
        ("ssh://ci@build-host.example", False, "build-host.example"),
    ],
)
def test_docker_host_says_where_the_engine_and_its_ports_are(
    no_engine_settings, monkeypatch, docker_host, local, host
):
    monkeypatch.setenv("DOCKER_HOST", docker_host)

    assert engine_is_local() is local
    assert published_host() == host


def test_the_current_docker_context_is_the_engine_unless_docker_host_says_otherwise(
    no_engine_settings, monkeypatch
):
    make_context(no_engine_settings, "builder", "tcp://10.9.8.7:2376")

    assert engine_url() == "tcp://10.9.8.7:2376"
    assert not engine_is_local()
    assert published_host() == "10.9.8.7"
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    assert engine_url() == ""
    monkeypatch.delenv("DOCKER_CONTEXT")
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert engine_url() == "unix:///var/run/docker.sock"


class Pinged:
    def ping(self):
        return True


def test_an_ssh_engine_is_reached_through_this_machines_ssh(no_engine_settings, monkeypatch):
    from orchestrator import engine

    monkeypatch.setenv("DOCKER_HOST", "ssh://builder@192.0.2.5")
    opened = []
    monkeypatch.setattr(
        engine.docker, "from_env", lambda **kwargs: opened.append(kwargs) or Pinged()
    )

    engine.connect()

    assert [kwargs["use_ssh_client"] for kwargs in opened] == [True]  # not paramiko's own
    assert not engine_is_local()
    assert published_host() == "192.0.2.5"


def test_an_ssh_engine_without_paramiko_is_one_line_saying_what_to_install(
    no_engine_settings, monkeypatch
):
    from orchestrator import engine
    from orchestrator.errors import EngineUnavailable

    monkeypatch.setenv("DOCKER_HOST", "ssh://builder@192.0.2.5")
    found = engine.importlib.util.find_spec
    monkeypatch.setattr(
        engine.importlib.util, "find_spec", lambda name: None if name == "paramiko" else found(name)
    )

    with pytest.raises(EngineUnavailable, match=r"pip install 'stackyard\[ssh\]'") as error:
        engine.connect()
    assert "\n" not in str(error.value)


def test_the_address_the_containers_reach_this_machine_at_can_be_given(monkeypatch):
    """(Found by routing otherwise: the remote-engine tests use that.)"""
    monkeypatch.setenv("ORCHESTRATOR_HOST_ADDRESS", "192.0.2.10")
    assert address_towards("10.201.0.2") == "192.0.2.10"


class ArchiveTaker:
    def __init__(self):
        self.archives = []

    def put_archive(self, path, data):
        self.archives.append((path, data))


def test_a_remote_engines_container_gets_a_copy_without_virtualenvs_caches_or_vcs(tmp_path):
    source = tmp_path / "project"
    for name in (
        "app/models.py",
        "app/__pycache__/models.cpython-311.pyc",
        "app/old.pyc",
        ".venv/lib/site.py",
        ".git/HEAD",
        "node_modules/x.js",
        "manage.py",
    ):
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (source / "manage.py").chmod(0o700)
    boot = tmp_path / "boot.py"
    boot.write_text("print()")
    container = ArchiveTaker()

    copy_into(container, [Mount(str(source), "/app"), Mount(str(boot), "/opt/boot.py")])

    ((path, data),) = container.archives
    assert path == "/"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == [
        "app",
        "app/app",
        "app/app/models.py",
        "app/manage.py",
        "opt/boot.py",
    ]
    assert members["app/manage.py"].mode == 0o755  # executable stays so, readable by all
    assert members["app/app/models.py"].mode == 0o644
    assert {m.uid for m in members.values()} == {0}


class FakeContainers:
    def __init__(self):
        self.created = []

    def create(self, image, **kwargs):
        self.created.append(kwargs)
        return ArchiveTaker()


class FakeClient:
    def __init__(self):
        self.containers = FakeContainers()
        self.api = self

    def create_endpoint_config(self, aliases):
        return {"Aliases": aliases}


def remote_stack(monkeypatch):
    from orchestrator.stack import Stack

    monkeypatch.setenv("DOCKER_HOST", "tcp://10.201.0.2:2375")
    monkeypatch.setenv("ORCHESTRATOR_HOST_ADDRESS", "10.201.0.1")
    stack = Stack(client=FakeClient(), stack_id="remote")  # type: ignore[arg-type]
    stack.network = object()  # type: ignore[assignment]
    return stack


def spec_of(**fields):
    from orchestrator.spec import ServiceSpec

    defaults = {"name": "browser", "image": "stackyard/browser:x", "ports": (4444,), "probe": None}
    return ServiceSpec(**{**defaults, **fields})


def test_on_a_remote_engine_ports_are_the_engines_and_the_containers_reach_this_machine(
    monkeypatch, tmp_path
):
    stack = remote_stack(monkeypatch)
    source = tmp_path / "src"
    source.mkdir()
    (source / "tasks.py").write_text("x")
    spec = spec_of(
        options={"extra_hosts": {"host.docker.internal": "host-gateway"}},
        mounts=(Mount(str(source), "/app"),),
    )

    container = stack._create(spec)

    (created,) = stack.client.containers.created
    # On its interfaces, at a port chosen for the container's life (a restart keeps it).
    ((address, port),) = created["ports"].values()
    assert (address, list(created["ports"])) == ("0.0.0.0", ["4444/tcp"])
    assert port in REMOTE_PORTS
    assert created["volumes"] == {}  # copied in instead
    assert created["extra_hosts"] == {"host.docker.internal": "10.201.0.1"}
    assert created["environment"]["STACKYARD_CLIENT_ADDRESS"] == "10.201.0.1"
    assert [path for path, _ in container.archives] == ["/"]


def test_a_file_shared_with_this_machine_is_refused_on_a_remote_engine(monkeypatch, tmp_path):
    from orchestrator.errors import OrchestratorError

    stack = remote_stack(monkeypatch)
    spec = spec_of(name="worker-gw0", mounts=(Mount(str(tmp_path), str(tmp_path), "rw"),))

    with pytest.raises(OrchestratorError, match="use database = 'postgres'"):
        stack._create(spec)
    assert stack.client.containers.created == []


class FakeNetwork:
    def __init__(self, gateway="10.89.0.1"):
        self.attrs = {"IPAM": {"Config": [{"Subnet": "10.89.0.0/24", "Gateway": gateway}]}}

    def reload(self):
        pass


class FakeEngine(FakeClient):
    """A local engine that says what it is, and the default bridge's gateway."""

    def __init__(self, name, gateway, version="4.3.1", security=("name=seccomp",)):
        super().__init__()
        self.name, self.engine_version, self.security = name, version, list(security)
        self.networks = self
        self.gateway = gateway

    def get(self, name):
        assert name == "bridge"
        return FakeNetwork(self.gateway)

    def version(self):
        return {"Components": [{"Name": self.name, "Version": self.engine_version}]}

    def info(self):
        return {"SecurityOptions": self.security}


def local_stack(monkeypatch, engine):
    from orchestrator.stack import Stack

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setattr("orchestrator.engine._context", lambda: None)
    stack = Stack(client=engine, stack_id="local")  # type: ignore[arg-type]
    stack.network = FakeNetwork()  # type: ignore[assignment]
    return stack


def created_by(engine, monkeypatch):
    stack = local_stack(monkeypatch, engine)
    stack._create(spec_of(options={"extra_hosts": {"host.docker.internal": "host-gateway"}}))
    (created,) = stack.client.containers.created
    limits = {limit["Name"]: (limit["Soft"], limit["Hard"]) for limit in created.get("ulimits", [])}
    return created["extra_hosts"]["host.docker.internal"], limits


@pytest.mark.parametrize(
    ("bridge_gateway", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),  # an address of this machine: where the live server listens
        ("192.0.2.7", "10.89.0.1"),  # not one (no such bridge yet): the stack network's gateway
    ],
)
def test_on_a_rootful_podman_4_3_host_gateway_is_an_address_and_limits_are_this_machines(
    monkeypatch, bridge_gateway, expected
):
    from orchestrator.stack import container_limits

    host, limits = created_by(FakeEngine("Podman Engine", bridge_gateway), monkeypatch)

    assert host == expected
    assert limits == {name: (value, value) for name, value in container_limits().items()}
    assert limits["nproc"][1] <= int(Path("/proc/sys/kernel/pid_max").read_text())


def test_a_podman_that_knows_host_gateway_keeps_it(monkeypatch):
    host, limits = created_by(FakeEngine("Podman Engine", "127.0.0.1", "5.2.1"), monkeypatch)

    assert host == "host-gateway"
    assert set(limits) == {"nofile", "nproc"}  # rootful: still what this machine allows


def test_a_rootless_podman_is_left_to_itself(monkeypatch):
    engine = FakeEngine("Podman Engine", "127.0.0.1", security=("name=seccomp", "name=rootless"))

    assert created_by(engine, monkeypatch) == ("host-gateway", {})


def test_on_a_local_docker_engine_host_gateway_and_limits_are_the_engines(monkeypatch):
    assert created_by(FakeEngine("Engine", "127.0.0.1"), monkeypatch) == ("host-gateway", {})
