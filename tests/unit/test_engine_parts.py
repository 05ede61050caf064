"""Engine pieces that need no Docker: mirrors, error messages, endpoints, CLI errors,
RabbitMQ's boot definitions, calling off a start, the watchdog's reading of the state,
a kept stack's dead container."""

import base64
import hashlib
import json
import subprocess
import sys
import time

import pytest

from orchestrator.attachment import Attachment
from orchestrator.cli import main
from orchestrator.config import load_config
from orchestrator.debian import apt_mirror
from orchestrator.demand import StartCancelled, StartGate
from orchestrator.errors import ImageError, ServiceNotReady
from orchestrator.plan import Credentials, StackPlan
from orchestrator.services.base import Slice
from orchestrator.services.rabbitmq import SERVICE as RABBITMQ
from orchestrator.services.rabbitmq import password_hash
from orchestrator.state import StackState, StateDir
from orchestrator.watchdog import watch


def test_mirror_from_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\n"
    )

    assert apt_mirror(tmp_path) == "http://mirror.test/debian"


def test_mirror_from_legacy_sources_list(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://legacy.test/debian bookworm main\n"
    )

    assert apt_mirror(tmp_path) == "http://legacy.test/debian"


def test_no_mirror_is_an_error_naming_the_fix(tmp_path):
    (tmp_path / "sources.list.d").mkdir()

    with pytest.raises(ImageError, match="set base_image"):
        apt_mirror(tmp_path)


def test_service_not_ready_message_has_every_part():
    error = ServiceNotReady(
        "rabbitmq",
        "AMQP handshake",
        30,
        "exited with code 137 (OOM-killed)",
        "line 1\nline 2\n",
        hint="give it more memory",
    )

    lines = str(error).splitlines()
    assert lines[0] == (
        "service 'rabbitmq' not ready within 30s "
        "(waited for AMQP handshake; container exited with code 137 (OOM-killed))"
    )
    assert lines[1] == "hint: give it more memory"
    assert lines[-2:] == ["line 1", "line 2"]


def test_endpoints_quote_credentials_and_use_aliases_inside_the_network(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    creds = Credentials(
        redis={"password": "p/w@1"},
        rabbitmq={"user": "user", "password": "s:ecret", "vhost": "vhost"},
    )
    plan = StackPlan(load_config(tmp_path, environ={}), {}, creds)

    outside = plan.endpoints(lambda service, port: ("127.0.0.1", 40000 + port % 1000))
    inside = plan.internal_endpoints()

    assert outside.broker_url == "amqp://user:s%3Aecret@127.0.0.1:40672/stackyard-main"
    assert outside.result_backend == "redis://:p%2Fw%401@127.0.0.1:40379/1"
    assert outside.channel_layer_url.endswith("@127.0.0.1:40379/1")
    assert inside.broker_url == "amqp://user:s%3Aecret@rabbitmq:5672/stackyard-main"
    other = plan.endpoints(lambda service, port: ("127.0.0.1", port), Slice("gw1", 3))
    assert other.broker_url.endswith("/stackyard-gw1")
    assert other.result_backend.endswith(":6379/3")
    assert other.channel_layer_url.endswith(":6379/3")
    assert other.channel_layer_prefix == "stackyard-gw1"
    assert set(inside.as_env()) == {
        "STACKYARD_BROKER_URL",
        "STACKYARD_RESULT_BACKEND",
        "STACKYARD_CHANNEL_LAYER_URL",
        "STACKYARD_CHANNEL_LAYER_PREFIX",
        "STACKYARD_DATABASE_URL",
        "CELERY_BROKER_URL",
        "CELERY_BROKER_READ_URL",
        "CELERY_BROKER_WRITE_URL",
        "CELERY_RESULT_BACKEND",
    }
    # Reprs reach tracebacks and JUnit reports: no password in them.
    assert "ecret" not in repr(outside)
    assert "p%2Fw" not in repr(outside)
    assert "ecret" not in repr(creds) + repr(plan)


def test_cli_reports_a_config_error_in_one_line(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.orchestrator]\nimage_mode = 'bild'\n")

    assert main(["--project", str(tmp_path), "images", "build"]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "image_mode = 'bild'" in err


def test_cli_images_without_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["images"])

    assert exit_info.value.code == 2


def test_rabbitmq_password_hash_is_salted_sha256_as_rabbitmq_stores_it():
    salt = bytes.fromhex("908d c60a".replace(" ", ""))
    expected = salt + hashlib.sha256(salt + b"test12").digest()

    assert base64.b64decode(password_hash("test12", salt)) == expected
    assert password_hash("test12") != password_hash("test12")  # a new salt each time


def test_rabbitmq_boot_definitions_give_the_user_every_vhost():
    creds = {"user": "user", "password": "secret", "vhost": "main"}
    spec = RABBITMQ.spec("image", creds, 60.0, [Slice("gw0", 1), Slice("gw1", 2)])
    loaded = json.loads(spec.env["STACKYARD_RABBITMQ_DEFINITIONS"])

    assert [user["name"] for user in loaded["users"]] == ["user"]
    assert "secret" not in spec.env["STACKYARD_RABBITMQ_DEFINITIONS"]
    vhosts = ["main", "stackyard-gw0", "stackyard-gw1"]
    assert [vhost["name"] for vhost in loaded["vhosts"]] == vhosts
    assert {(p["user"], p["vhost"], p["configure"]) for p in loaded["permissions"]} == {
        ("user", vhost, ".*") for vhost in vhosts
    }
    assert "STACKYARD_RABBITMQ_DEFINITIONS" not in RABBITMQ.spec("i", creds, 1.0, ()).env


def test_a_start_called_off_before_it_launches_launches_nothing():
    gate = StartGate()

    assert gate.call_off() is False  # nothing to wait for
    with pytest.raises(StartCancelled, match="nothing started"):
        gate.launch()


def test_a_start_called_off_after_it_launched_is_waited_for():
    gate = StartGate()
    gate.launch()

    assert gate.call_off() is True


def _state(stack_id):
    return StackState(stack_id, "host:1:1", False, "f", {}, {})


def test_the_watchdog_waits_through_the_start_and_leaves_when_its_run_stops_the_stack(
    tmp_path, monkeypatch
):
    """No state file yet means "still starting"; once written and then gone, the run
    stopped its stack itself."""
    state_dir = StateDir(tmp_path)
    polls = []

    def owner_alive(owner):
        polls.append(owner)
        if len(polls) == 3:
            state_dir.save(_state("s1"))  # the start finished
        if len(polls) == 5:
            state_dir.remove()  # the run removed its stack
        return True

    monkeypatch.setattr("orchestrator.watchdog.owner_alive", owner_alive)
    monkeypatch.setattr("orchestrator.watchdog.POLL_INTERVAL", 0)

    assert watch("host:1:1", "s1", state_dir) == "stack stopped by its run"
    assert len(polls) == 5


def test_the_watchdog_leaves_a_state_that_names_another_stack(tmp_path):
    state_dir = StateDir(tmp_path)
    state_dir.save(_state("other"))

    assert watch("host:1:1", "s1", state_dir) == "the state now names stack other"


def test_the_watchdog_removes_a_stack_whose_owner_died_before_it_was_recorded(
    tmp_path, monkeypatch
):
    """The owner died while its stack started: no state file yet, and the watchdog sweeps
    twice, for a container created as the owner died."""
    sweeps = []
    monkeypatch.setattr("orchestrator.watchdog.owner_alive", lambda owner: False)
    monkeypatch.setattr("orchestrator.engine.connect", lambda: "client")
    monkeypatch.setattr(
        "orchestrator.stack.remove_stack", lambda client, stack_id: sweeps.append(stack_id) or 2
    )
    monkeypatch.setattr("orchestrator.watchdog.SECOND_SWEEP_DELAY", 0)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    outcome = watch("host:1:1", "s1", StateDir(run_dir, create=False))

    assert outcome == "owner host:1:1 died: removed 4 containers and networks"
    assert sweeps == ["s1", "s1"]
    assert not run_dir.exists()


def test_the_watchdog_starts_without_the_engine_client():
    """The watchdog starts beside the stack's containers; docker-py's import (most of its
    start's CPU) waits until the owner dies and there is a stack to remove."""
    script = "import sys, orchestrator.watchdog; print(sorted(sys.modules))"
    command = [sys.executable, "-c", script]
    loaded = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)

    assert "'docker'" not in loaded.stdout


def test_a_state_directory_others_may_write_to_is_refused_in_one_line(tmp_path):
    from orchestrator.errors import OrchestratorError

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)

    with pytest.raises(OrchestratorError) as error, StateDir(shared).locked():
        pass

    assert "writable by other users (mode drwxrwxrwx)" in str(error.value)
    assert "\n" not in str(error.value)


def test_the_state_file_is_private_and_written_through_a_new_file(tmp_path):
    state_dir = StateDir(tmp_path / "state")
    with state_dir.locked():
        state_dir.save(StackState("abc", "kept", True, "", {}, {}))
        state_dir.save(StackState("def", "kept", True, "", {}, {}))

    assert state_dir.load().stack_id == "def"
    assert state_dir.file.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in state_dir.path.iterdir()) == ["stack.json", "stack.lock"]


def test_only_the_stacks_own_watchdog_is_signalled(tmp_path):
    import subprocess
    import sys

    from orchestrator.watchdog import is_watchdog

    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    with subprocess.Popen([*sleeper, "-m", "orchestrator.watchdog", "owner", "abc123"]) as fake:
        try:
            deadline = time.monotonic() + 10  # until the child has exec'd its command
            while not is_watchdog(fake.pid, "abc123"):
                assert time.monotonic() < deadline, "the watchdog was never recognised"
                time.sleep(0.02)
            assert not is_watchdog(fake.pid, "other")
        finally:
            fake.kill()
    with subprocess.Popen(sleeper) as stranger:  # a reused pid: another program
        try:
            assert not is_watchdog(stranger.pid, "abc123")
        finally:
            stranger.kill()


class _DeadContainer:
    status = "exited"

    def __init__(self):
        self.removals = []

    def remove(self, **options):
        self.removals.append(options)


def test_a_kept_stacks_dead_container_goes_with_its_volumes():
    # An image's VOLUME (the official postgres image's data) gets an anonymous volume,
    # which a removal without v=True leaves on the engine for good.
    dead = _DeadContainer()

    class Containers:
        def get(self, container_id):
            assert container_id == "c0ffee"
            return dead

    class Client:
        containers = Containers()

    class Stack:
        client = Client()

        def services(self):
            return []

    attachment = Attachment(Stack(), plan=None, state_dir=None, mode="kept")
    assert attachment._adopt("postgres", "c0ffee", spec=None) is False
    assert dead.removals == [{"force": True, "v": True}]
