"""The state lock and the owner checks on platforms other than Linux, with the
platform's pieces played by fakes: no ``fcntl`` (Windows: ``msvcrt.locking``), no
``/proc`` (macOS, the BSDs: ``ps``), and the Windows API for a pid's existence."""

import ctypes
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import owner
from orchestrator.owner import owner_alive, owner_id, process_exists, process_start
from tests.unit.fresh_interpreter import run_python

HOST = socket.gethostname()
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")

# Runs in a fresh interpreter: fcntl unimportable, as on Windows, and msvcrt faked.
WITHOUT_FCNTL = r"""
import errno
import fcntl as real_fcntl
import json
import sys
import types
from pathlib import Path

sys.modules["fcntl"] = None  # `import fcntl` now raises ImportError

import fixtures.plugin  # noqa: E402, F401  (the plugin loads without fcntl)
from orchestrator import state  # noqa: E402
from orchestrator.errors import OrchestratorError  # noqa: E402

# Installed after the imports: subprocess, for one, takes a msvcrt module to mean Windows.
msvcrt = types.ModuleType("msvcrt")
msvcrt.LK_UNLCK, msvcrt.LK_NBLCK = 0, 2
calls = []


def locking(fd, mode, nbytes):
    # Windows' byte-range lock, played by flock: it too excludes every other handle.
    calls.append(mode)
    exclusive = real_fcntl.LOCK_EX | real_fcntl.LOCK_NB
    operation = real_fcntl.LOCK_UN if mode == msvcrt.LK_UNLCK else exclusive
    try:
        real_fcntl.flock(fd, operation)
    except BlockingIOError:
        raise OSError(errno.EACCES, "Permission denied") from None


msvcrt.locking = locking
sys.modules["msvcrt"] = msvcrt

assert state.fcntl is None
directory = state.StateDir(Path(sys.argv[1]))
with directory.locked():
    try:
        with state.StateDir(Path(sys.argv[1])).locked(timeout=0.2):
            print("second holder got the lock")
    except OrchestratorError:
        print("second holder excluded")
with directory.locked(timeout=0.2):
    print("lock free again")
print(json.dumps(calls))

sys.modules["msvcrt"] = None  # neither fcntl nor msvcrt: an error at use, not at import
try:
    with directory.locked(timeout=0.2):
        pass
except OrchestratorError as error:
    print(error)
"""


def test_without_fcntl_the_plugin_imports_and_the_lock_still_excludes(tmp_path, pytestconfig):
    completed = run_python(WITHOUT_FCNTL, str(tmp_path / "state"), cwd=pytestconfig.rootpath)

    assert completed.returncode == 0, completed.stderr
    excluded, free, calls, error = completed.stdout.splitlines()
    assert (excluded, free) == ("second holder excluded", "lock free again")
    # Lock; the second holder's attempts, every 50 ms for 0.2 s; unlock; lock, unlock.
    lock, unlock = 2, 0
    modes = json.loads(calls)
    assert modes[0] == lock
    assert modes[-3:] == [unlock, lock, unlock]
    second_holders_attempts = modes[1:-3]
    assert set(second_holders_attempts) == {lock}
    assert len(second_holders_attempts) >= 2
    assert error == "no file locking on this platform: neither fcntl (POSIX) nor msvcrt (Windows)"


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@needs_proc
def test_linux_owner_is_alive_and_a_dead_or_reused_pid_is_not():
    me = owner_id()

    assert me.rpartition(":")[2].isdigit()
    assert owner_alive(me)
    assert not owner_alive(f"{HOST}:{_dead_pid()}:1")
    assert not owner_alive(f"{HOST}:{os.getpid()}:1")  # same pid, another start: reused


@pytest.fixture
def without_proc(tmp_path, monkeypatch):
    """As on macOS and the BSDs: no /proc."""
    monkeypatch.setattr(owner, "PROC", tmp_path / "no-proc")


@needs_proc  # to check what ps says
def test_without_proc_the_start_time_comes_from_ps(without_proc):
    me = owner_id()
    start = me.rpartition(":")[2]

    assert start.isdigit()
    assert abs(int(start) - _own_start_in_epoch_seconds()) <= 1
    assert owner_alive(me)
    assert not owner_alive(f"{HOST}:{_dead_pid()}:{start}")
    assert not owner_alive(f"{HOST}:{os.getpid()}:{int(start) - 3600}")  # reused pid


def _own_start_in_epoch_seconds() -> int:
    """This process's start time in seconds since the epoch, from /proc and the boot time
    (what ``ps -o lstart=`` prints, in local time)."""
    ticks = int(Path(f"/proc/{os.getpid()}/stat").read_text().rpartition(")")[2].split()[19])
    boot = next(
        int(line.split()[1])
        for line in Path("/proc/stat").read_text().splitlines()
        if line.startswith("btime")
    )
    return boot + ticks // os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize(
    "ps",
    [
        pytest.param(FileNotFoundError(2, "No such file or directory: 'ps'"), id="no-ps"),
        pytest.param(subprocess.CompletedProcess([], 0, "a date ps cannot tell\n", ""), id="odd"),
        pytest.param(subprocess.TimeoutExpired("ps", 5.0), id="hangs"),
    ],
)
def test_without_proc_an_unreadable_start_time_counts_as_alive(without_proc, monkeypatch, ps):
    def run(*args, **kwargs):
        if isinstance(ps, BaseException):
            raise ps
        return ps

    monkeypatch.setattr(owner.subprocess, "run", run)

    assert process_start(os.getpid()) is None
    assert owner_alive(f"{HOST}:{os.getpid()}:1234567890")
    assert not owner_alive(f"{HOST}:{_dead_pid()}:1234567890")  # gone is gone


def test_a_pid_of_another_user_counts_as_alive(monkeypatch):
    def kill(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(owner.os, "kill", kill)

    assert process_exists(1)


class FakeKernel32:
    """The three kernel32 calls the owner check makes, answering as told."""

    def __init__(self, handle, exit_code=259):
        self.handle = handle
        self.exit_code = exit_code
        self.closed = []

    def OpenProcess(self, access, inherit, pid):  # the Windows API's names
        return self.handle

    def GetExitCodeProcess(self, handle, code):
        code._obj.value = self.exit_code
        return 1

    def CloseHandle(self, handle):
        self.closed.append(handle)
        return 1


@pytest.fixture
def windows(monkeypatch):
    """As on Windows: os.kill(pid, 0) would terminate the process, so it must not be used."""

    def kill(pid, signal):
        raise AssertionError("os.kill on Windows terminates the process")

    monkeypatch.setattr(owner, "WINDOWS", True)
    monkeypatch.setattr(owner.os, "kill", kill)


@pytest.mark.parametrize(
    ("kernel", "error", "alive"),
    [
        (FakeKernel32(handle=7), 0, True),  # running
        (FakeKernel32(handle=7, exit_code=0), 0, False),  # exited, a handle still open
        (FakeKernel32(handle=0), 87, False),  # ERROR_INVALID_PARAMETER: no such process
        (FakeKernel32(handle=0), 5, True),  # ERROR_ACCESS_DENIED: exists, another user's
    ],
)
def test_windows_owner_check_asks_the_windows_api(windows, monkeypatch, kernel, error, alive):
    monkeypatch.setattr(owner, "_kernel32", lambda: (kernel, lambda: error))

    assert owner_id(4242) == f"{HOST}:4242:?"  # no start time there: pid only
    assert owner_alive(f"{HOST}:4242:?") is alive
    assert kernel.closed == ([7] if kernel.handle else [])


@pytest.mark.skipif(hasattr(ctypes, "WinDLL"), reason="the Windows API is there")
def test_windows_owner_counts_as_alive_when_the_api_is_missing(windows):
    assert owner_alive(f"{HOST}:{_dead_pid()}:?")
