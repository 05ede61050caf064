"""Who owns a stack: a process named so that a reused pid is not mistaken for it.

An owner is ``host:pid:start``, ``start`` being the process's start time in
clock ticks since boot (``/proc/<pid>/stat``, field 22). A kept stack's owner
is ``kept``: no process, never reaped.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

KEPT = "kept"


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot), or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its end.
    return stat.rpartition(")")[2].split()[19]


def owner_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start(pid) or '?'}"


def owner_alive(owner: str) -> bool:
    """Whether the owner process still runs; an owner on another host counts as alive."""
    if owner == KEPT:
        return True
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    current = process_start(int(pid_text))
    return current is not None and (start in ("", "?") or current == start)


def owner_pid(owner: str) -> int | None:
    parts = owner.split(":")
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
