"""The plugin is a good guest in a suite that is not stackyard's.

"Unchanged" means, for a project without ``[tool.orchestrator]`` whose tests use
no stackyard fixture: the run is the run without the plugin, test by test (same
outcome of every test, same counts, same exit code), with no stackyard output (no
summary, no log line), no ``$GITHUB_STEP_SUMMARY`` entry and no file left in the
project; the network guard is off unless the project asks for it. With the guard
switched on, the only tests whose outcome changes are those that open an IPv4/IPv6
connection. Importing the plugin and the engine changes no global state.
"""

import json
import re

import docker
import pytest
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import Reaper

from orchestrator.engine import LABEL_SERVICE, LABEL_STACK
from orchestrator.spec import Mount, ServiceSpec
from orchestrator.stack import Stack
from tests.unit.fresh_interpreter import run_python

# Runs in a fresh interpreter, so that every module is imported for the first time.
IMPORT_EVERYTHING = r"""
import importlib
import json
import os
import pkgutil
import socket
import sys

from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import Reaper

config_before = dict(vars(testcontainers_config))
environ_before = dict(os.environ)
socket_before = dict(vars(socket.socket))

import fixtures
import orchestrator

packages = (fixtures, orchestrator)
names = [
    module.name
    for package in packages
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    if not module.name.endswith("__main__")  # that one runs the CLI
]
for name in names:
    importlib.import_module(name)

config_after = vars(testcontainers_config)
print(json.dumps({
    "imported": names,
    "config_changed": sorted(
        key for key in config_before.keys() | config_after.keys()
        if config_before.get(key) != config_after.get(key)
    ),
    "environ_changed": dict(os.environ) != environ_before,
    "socket_changed": dict(vars(socket.socket)) != socket_before,
    "reaper": Reaper._instance is not None,
    "ryuk_disabled": testcontainers_config.ryuk_disabled,
}))
"""


def test_importing_the_plugin_and_the_engine_changes_no_global_state(pytestconfig, monkeypatch):
    monkeypatch.delenv("TESTCONTAINERS_RYUK_DISABLED", raising=False)
    completed = run_python(IMPORT_EVERYTHING, cwd=pytestconfig.rootpath)

    assert completed.returncode == 0, completed.stderr
    outcome = json.loads(completed.stdout)
    assert {"fixtures.plugin", "orchestrator.engine", "orchestrator.stack"} <= set(
        outcome.pop("imported")
    )
    assert outcome == {
        "config_changed": [],
        "environ_changed": False,
        "socket_changed": False,
        "reaper": False,
        "ryuk_disabled": False,  # the user's testcontainers code keeps its reaper
    }


def test_the_stack_creates_its_containers_without_testcontainers_or_its_reaper(monkeypatch):
    """Ryuk stays on for the project's own code; the stack's containers never start it
    and carry no testcontainers session label (which that Ryuk would reap)."""
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", False)
    client = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.44")
    created = {}

    def create_container(**kwargs):
        created.update(kwargs)
        return {"Id": "c0ffee"}

    monkeypatch.setattr(client.api, "create_container", create_container)
    monkeypatch.setattr(client.api, "inspect_container", lambda container_id: {"Id": container_id})
    monkeypatch.setattr(
        client.api, "version", lambda **kwargs: {"Components": [{"Name": "Engine"}]}
    )
    stack = Stack(client, stack_id="s1", owner="host:1:1", log=lambda message: None)
    stack.network = object()  # the network exists; _create only names it
    spec = ServiceSpec(
        name="redis",
        image="stackyard/redis:1",
        probe=None,
        command=("redis-server",),
        env={"A": "1"},
        ports=(6379,),
        mounts=(Mount("/src", "/app"),),
        options={"shm_size": "64m"},
    )
    try:
        assert stack._create(spec).id == "c0ffee"
    finally:
        stack._pool.shutdown()

    assert Reaper._instance is None
    labels = created["labels"]
    assert labels[LABEL_STACK] == "s1"
    assert labels[LABEL_SERVICE] == "redis"
    assert not [label for label in labels if label.startswith("org.testcontainers")]
    host_config = created["host_config"]
    # Loopback only, at a port chosen for the container's life (a restart keeps it).
    [binding] = host_config["PortBindings"]["6379/tcp"]
    assert binding["HostIp"] == "127.0.0.1"
    assert 1024 < int(binding["HostPort"]) < 65536
    assert (host_config["Memory"], host_config["PidsLimit"]) == (2**30, 1024)
    assert host_config["Binds"] == ["/src:/app:ro"]
    assert host_config["NetworkMode"] == "stackyard-s1"
    endpoint = created["networking_config"]["EndpointsConfig"]["stackyard-s1"]
    assert endpoint["Aliases"] == ["redis"]
    assert (created["name"], created["command"]) == ("stackyard-s1-redis", ["redis-server"])


PLAIN_TESTS = """
import socket
import unittest

import pytest


def test_a_loopback_server_answers_its_client():
    # One thread: the kernel queues the connection and the bytes until they are read.
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            client.sendall(b"ping")
            connection, _ = server.accept()
            with connection:
                connection.sendall(connection.recv(4))
            assert client.recv(4) == b"ping"


def test_fails():
    assert 1 == 2


@pytest.mark.xfail(reason="known bug")
def test_known_bug():
    assert False


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.fixture
def browser():
    return "the project's own browser fixture"


def test_own_fixture_named_like_a_plugin_one(browser):
    assert browser == "the project's own browser fixture"


class TestUnittestStyle(unittest.TestCase):
    def setUp(self):
        self.items = [1]

    def test_passes(self):
        self.assertEqual(self.items, [1])

    def test_fails(self):
        self.assertEqual(self.items, [2])

    @unittest.skip("not today either")
    def test_skipped(self):
        pass
"""
INNER_ARGS = ("-v", "-p", "no:cacheprovider", "-p", "no:django", "-p", "no:asyncio")
OUTCOME = re.compile(r"^(\S+::\S+) (PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR)\b")


def _per_test(result):
    return dict(match.groups() for line in result.outlines if (match := OUTCOME.match(line)))


def _files(pytester):
    """The project's files, without pytester's own (its runs' base temp and output)."""
    paths = [path.relative_to(pytester.path) for path in pytester.path.rglob("*")]
    return sorted(
        str(path)
        for path in paths
        if "__pycache__" not in path.parts
        and not path.parts[0].startswith("runpytest-")
        and str(path) not in ("stdout", "stderr")
    )


def test_a_plain_projects_tests_run_unchanged_with_the_plugin(pytester, tmp_path, monkeypatch):
    step_summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    pytester.makepyfile(test_plain=PLAIN_TESTS)
    before = _files(pytester)
    without = pytester.runpytest_subprocess(*INNER_ARGS, "-p", "no:stackyard")
    guarded = pytester.runpytest_subprocess(*INNER_ARGS, "-o", "orchestrator_network_guard=true")
    unguarded = pytester.runpytest_subprocess(*INNER_ARGS)

    outcomes = _per_test(without)
    assert len(outcomes) == 8, without.stdout.str()
    assert _per_test(unguarded) == outcomes
    assert unguarded.parseoutcomes() == without.parseoutcomes()
    assert unguarded.ret == without.ret == pytest.ExitCode.TESTS_FAILED
    for result in (guarded, unguarded):
        lines = [*result.outlines, *result.errlines]
        assert not [line for line in lines if "stackyard" in line and "plugins:" not in line]
    assert not step_summary.exists()
    assert _files(pytester) == before
    # The guard, switched on, fails the test that connects, and only that one.
    loopback = "test_plain.py::test_a_loopback_server_answers_its_client"
    assert _per_test(guarded) == {**outcomes, loopback: "FAILED"}
    guarded.stdout.fnmatch_lines(["*NetworkAccessBlocked*orchestrator_network_guard = false*"])
