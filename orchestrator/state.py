"""The state file of a stack: what a process needs to attach to a stack it did not start.

One directory holds one stack's ``stack.json`` (mode 0600: it holds credentials)
and ``stack.lock``. The lock serialises starting, attaching and stopping between
the processes of a run (xdist workers) and between runs (a kept stack). It is
an OS lock on the open file (``flock`` on POSIX, ``msvcrt.locking`` on Windows),
so it excludes every other holder, in this process or another, and a holder
that dies releases it. Writes are atomic (temporary file, then rename).

Shape of ``stack.json``::

    {"stack_id": "3f9c01ab", "owner": "host:4242:881234", "kept": false,
     "fingerprint": "9a1b2c3d4e5f", "images": {"redis": "stackyard/redis:1e78..."},
     "credentials": {"redis": {"password": "..."}, "rabbitmq": {"user": "...", ...}, ...},
     "containers": {"redis": "<id>", "rabbitmq": "<id>", "browser": "<id>"},
     "slices": {"gw0": {"number": 1, "worker": "<id>",
                        "database": "sqlite:///path/.stackyard/db/gw0.sqlite3",
                        "source": "<fingerprint>"}},
     "headed": false, "watchdog_pid": 4250, "created": 1795350000.0}
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from orchestrator.errors import OrchestratorError

try:
    import fcntl
except ImportError:  # Windows: msvcrt.locking instead (see _try_lock)
    fcntl = None  # type: ignore[assignment]

STATE_FILE = "stack.json"
LOCK_FILE = "stack.lock"
LOCK_POLL = 0.05
# The holder may be building images on a first run (minutes) before it releases.
LOCK_TIMEOUT = 1800.0
# What a lock attempt fails with while another handle holds the lock: flock gives
# EAGAIN (EWOULDBLOCK) or EACCES, msvcrt.locking EACCES or EDEADLOCK (which macOS lacks).
LOCK_HELD = frozenset(
    {errno.EAGAIN, errno.EACCES, errno.EDEADLK, getattr(errno, "EDEADLOCK", errno.EDEADLK)}
)


@dataclass
class SliceState:
    """One process's namespace on a shared stack (an xdist worker's, or ``main``): its
    number, and its worker container with the database and source it started on."""

    number: int
    worker: str | None = None
    database: str | None = None
    source: str = ""


@dataclass
class StackState:
    stack_id: str
    owner: str
    kept: bool
    fingerprint: str
    images: dict[str, str]
    credentials: dict[str, dict[str, str]] = field(repr=False)
    containers: dict[str, str] = field(default_factory=dict)
    slices: dict[str, SliceState] = field(default_factory=dict)
    headed: bool = False
    watchdog_pid: int | None = None
    created: float = field(default_factory=time.time)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StackState:
        slices = {name: SliceState(**value) for name, value in data.pop("slices", {}).items()}
        return cls(slices=slices, **data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class StateDir:
    """The directory of one stack's state file and lock.

    ``create``: make the directory when locking. A run's directory is made by the
    run and removed when it ends; it is not made again by a late comer.
    """

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        self.create = create

    @property
    def file(self) -> Path:
        return self.path / STATE_FILE

    @contextmanager
    def locked(self, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the directory's lock (bounded wait; the holder may be building images)."""
        with unwritable(self.path):
            if self.create:
                self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            elif not self.path.is_dir():
                raise OrchestratorError(f"{self.path} is gone: the run that made it has ended")
            check_private(self.path)
            handle = open(self.path / LOCK_FILE, "a")  # noqa: SIM115 (closed below)
        with handle:
            deadline = time.monotonic() + timeout
            while not _try_lock(handle):
                if time.monotonic() > deadline:
                    raise OrchestratorError(
                        f"waited {timeout:g}s for the stack lock in {self.path}; another "
                        "process holds it (a run still starting its stack?)"
                    )
                time.sleep(LOCK_POLL)
            try:
                yield
            finally:
                _unlock(handle)

    def load(self) -> StackState | None:
        try:
            data = json.loads(self.file.read_text())
        except FileNotFoundError:
            return None
        except ValueError as error:
            raise OrchestratorError(f"{self.file} is not valid JSON ({error}); remove it") from None
        return StackState.from_json(data)

    def save(self, state: StackState) -> None:
        with unwritable(self.path):
            if self.create:
                self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            # A new file of a random name (O_EXCL, mode 0600): nothing another user made in
            # advance (a link to a file of theirs) is followed; then renamed over the old one.
            descriptor, temporary = tempfile.mkstemp(prefix=".stack-", suffix=".tmp", dir=self.path)
            try:
                with os.fdopen(descriptor, "w") as handle:
                    json.dump(state.to_json(), handle, indent=1)
                os.replace(temporary, self.file)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise

    def remove(self) -> None:
        self.file.unlink(missing_ok=True)


@contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """An error writing the state directory (full, read-only, not a directory) as one line
    naming it and the setting that moves it."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        where = f": {error.filename}" if error.filename else ""
        remedy = "free space there" if error.errno == errno.ENOSPC else "make it writable"
        raise OrchestratorError(
            f"state_dir {directory} cannot be written ({reason}{where}): {remedy}, or point "
            "state_dir (ORCHESTRATOR_STATE_DIR) at a writable directory"
        ) from None


def check_private(directory: Path) -> None:
    """Refuse a state directory other users may write to: it holds the stack's passwords,
    and whoever can replace its files can point the next run elsewhere."""
    if os.name != "posix":
        return  # Windows: permissions are ACLs, not these mode bits
    status = directory.stat()
    if status.st_uid != os.geteuid():
        raise OrchestratorError(
            f"state_dir {directory} belongs to another user (uid {status.st_uid}): it holds "
            "a stack's credentials; set state_dir to a directory of your own"
        )
    mode = status.st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise OrchestratorError(
            f"state_dir {directory} is writable by other users (mode {stat.filemode(mode)}): "
            "it holds the stack's credentials; `chmod go-w` it, or set state_dir elsewhere"
        )


# The slice locks this process holds (claim_slice), by path: not another run's.
HELD_SLICES: dict[Path, IO[str]] = {}


def slices_in_use(directory: Path) -> list[str]:
    """The slices whose lock in ``directory`` another process holds (a run in progress)."""
    busy = []
    for path in sorted(directory.glob("*.lock")) if directory.is_dir() else []:
        if path in HELD_SLICES:
            continue
        with open(path, "a") as handle:
            if _try_lock(handle):
                _unlock(handle)
            else:
                busy.append(path.stem)
    return busy


def try_lock(handle: IO[str]) -> bool:
    """Take the exclusive lock on ``handle``'s file now, or return False when it is held."""
    return _try_lock(handle)


def _try_lock(handle: IO[str]) -> bool:
    """Take the exclusive lock on ``handle``'s file without waiting; False when it is held."""
    try:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt = _msvcrt()
            handle.seek(0)  # msvcrt locks bytes from the current position: always byte 0
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError as error:
        if error.errno in LOCK_HELD:
            return False
        raise
    return True


def _unlock(handle: IO[str]) -> None:
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        msvcrt = _msvcrt()
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


def _msvcrt() -> Any:
    """Windows' C runtime module, for a platform without ``fcntl``."""
    try:
        return importlib.import_module("msvcrt")
    except ImportError:
        raise OrchestratorError(
            "no file locking on this platform: neither fcntl (POSIX) nor msvcrt (Windows)"
        ) from None
