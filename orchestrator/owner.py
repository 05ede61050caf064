"""Who owns a stack: a process named so that a reused pid is not mistaken for it.

An owner is ``host:pid:start``, ``start`` being the process's start time: on
Linux, clock ticks since boot (``/proc/<pid>/stat``, field 22); without
``/proc`` (macOS, the BSDs), seconds since the epoch from ``ps -o lstart=``;
``?`` where it cannot be read (Windows). A kept stack's owner is ``kept``: no
process, never reaped.

Guarantee: an owner is judged dead only when its pid names no process, or names
a process that started at another time (the pid was reused). Whenever this
cannot be told (no way to read a start time, no permission, an unknown
platform), the owner counts as alive: a stack is left behind rather than a live
run's stack removed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEPT = "kept"
PROC = Path("/proc")
WINDOWS = sys.platform == "win32"
PS_TIMEOUT = 5.0  # seconds; ps answers in milliseconds
# Windows API values (processthreadsapi.h, winerror.h, minwinbase.h).
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
ERROR_INVALID_PARAMETER = 87  # OpenProcess's answer for a pid that names no process
STILL_ACTIVE = 259


def process_start(pid: int) -> str | None:
    """The start time of ``pid``, as text that differs for a later process with the same
    pid; None when it cannot be read (no such process, or no way to read it here)."""
    if WINDOWS:
        return None  # pid reuse goes unnoticed there: the owner counts as alive
    if PROC.is_dir():
        return _proc_start(pid)
    return _ps_start(pid)


def process_exists(pid: int) -> bool:
    """Whether ``pid`` names a process (a zombie included); True when unsure."""
    if WINDOWS:
        return _windows_process_exists(pid)
    try:
        os.kill(pid, 0)  # signal 0: checks only (on Windows it would terminate the process)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # PermissionError: it exists, another user's; anything else: unsure
    return True


def owner_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start(pid) or '?'}"


def owner_alive(owner: str) -> bool:
    """Whether the owner process still runs; an owner on another host counts as alive,
    and so does one whose start time cannot be read (see the module's guarantee)."""
    if owner == KEPT:
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if not process_exists(pid):
        return False
    if start in ("", "?"):
        return True
    current = process_start(pid)
    return current is None or current == start


def _proc_start(pid: int) -> str | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    return stat.rpartition(")")[2].split()[19]


def _ps_start(pid: int) -> str | None:
    """Start time from ``ps`` (macOS, the BSDs), in whole seconds since the epoch."""
    try:
        completed = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=PS_TIMEOUT,
            # lstart is written in the C locale's words ("Tue Dec  1 10:00:00 2026").
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = " ".join(completed.stdout.split())
    if completed.returncode != 0 or not text:
        return None
    try:
        return str(int(time.mktime(time.strptime(text, "%a %b %d %H:%M:%S %Y"))))
    except (ValueError, OverflowError):
        return None


def _windows_process_exists(pid: int) -> bool:
    """Whether ``pid`` names a running process, from the Windows API; True when unsure."""
    try:
        kernel32, last_error = _kernel32()
    except (AttributeError, OSError):
        return True
    handle = kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        # Access denied means that the process exists; only this error means it does not.
        return bool(last_error() != ERROR_INVALID_PARAMETER)
    try:
        import ctypes

        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        # An exited process whose handle another process still holds can be opened too.
        return code.value == STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _kernel32() -> tuple[Any, Callable[[], int]]:
    """Windows' kernel32, and the function that reads the error its last call set."""
    import ctypes

    return ctypes.WinDLL("kernel32", use_last_error=True), ctypes.get_last_error  # type: ignore[attr-defined]
