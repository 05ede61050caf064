"""Remove a run's stack when the process that owns it dies, SIGKILL included.

Started by the process that starts a run's stack:

    python -m orchestrator.watchdog OWNER STACK_ID STATE_DIR

It detaches at once (fork, new session; the launcher prints the watchdog's pid
and exits), so that it survives the run's process group being killed.

It is launched together with the stack's containers, so it also guards a start
that the owner does not live to finish. It polls the owner twice a second. When
the owner is gone, it removes the stack's containers and network (twice, a second
apart, to catch a container created as the owner died) and the state directory.
It exits quietly when the state file, once written, goes away or names another
stack (the run stopped its stack itself), or when told to (SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from orchestrator.errors import OrchestratorError
from orchestrator.owner import owner_alive
from orchestrator.state import StateDir

POLL_INTERVAL = 0.5  # seconds; with removal, well inside the 10 s promise
SECOND_SWEEP_DELAY = 1.0  # seconds
WATCHDOG_LAUNCH_WAIT = 30  # seconds


def watch(owner: str, stack_id: str, state_dir: StateDir) -> str:
    """Block until the stack is done with; return what happened.

    The watchdog starts with the stack's containers, before the state file
    records the stack: until then, no state file means "still starting".
    """
    recorded = False
    while True:
        state = state_dir.load()
        if state is not None and state.stack_id != stack_id:
            return f"the state now names stack {state.stack_id}"
        if state is None and recorded:
            return "stack stopped by its run"
        recorded = recorded or state is not None
        if not owner_alive(owner):
            # Imported only now: docker-py's import is most of this process's start
            # (~0.25 s of CPU, taken from the stack's own start on a small machine).
            from orchestrator.engine import connect
            from orchestrator.stack import remove_stack

            client = connect()
            removed = remove_stack(client, stack_id)
            # A container the owner asked for just before it died may appear a moment later.
            time.sleep(SECOND_SWEEP_DELAY)
            removed += remove_stack(client, stack_id)
            shutil.rmtree(state_dir.path, ignore_errors=True)
            return f"owner {owner} died: removed {removed} containers and networks"
        time.sleep(POLL_INTERVAL)


class Watchdog:
    """The launcher of a stack's watchdog (``orchestrator.watchdog``), run alongside the start.

    The launcher forks the watchdog, prints its pid and exits; it takes ~0.3 s
    (imports), which :meth:`pid` waits for only once the containers are up.
    """

    def __init__(self, launcher: subprocess.Popen[str]) -> None:
        self._launcher = launcher
        self._pid: int | None = None
        self._failure: OrchestratorError | None = None

    @classmethod
    def launch(cls, owner: str, stack_id: str, state_dir: StateDir) -> Watchdog:
        command = [
            sys.executable,
            "-m",
            "orchestrator.watchdog",
            owner,
            stack_id,
            str(state_dir.path),
        ]
        launcher = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return cls(launcher)

    def pid(self) -> int:
        """The watchdog's pid (waits for the launcher, at most 30 s)."""
        if self._failure is not None:
            raise self._failure
        if self._pid is None:
            try:
                out, err = self._launcher.communicate(timeout=WATCHDOG_LAUNCH_WAIT)
            except subprocess.TimeoutExpired:
                self._launcher.kill()
                self._launcher.communicate()
                out, err = "", f"its launcher did not finish within {WATCHDOG_LAUNCH_WAIT} s"
            if self._launcher.returncode != 0 or not out.strip().isdigit():
                self._failure = OrchestratorError(
                    f"could not start the stack's watchdog: {err.strip()}"
                )
                raise self._failure
            self._pid = int(out.strip())
        return self._pid

    def stop(self) -> None:
        """Stop the watchdog (its stack is being removed by its own process)."""
        with contextlib.suppress(OrchestratorError, ProcessLookupError):
            os.kill(self.pid(), signal.SIGTERM)


def is_watchdog(pid: int, stack_id: str) -> bool:
    """Whether process ``pid`` is the watchdog of ``stack_id`` (a recorded pid may have
    been reused by another process since): its command line names both."""
    try:
        command = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        try:  # no /proc (macOS, the BSDs)
            command = subprocess.run(
                ["ps", "-o", "command=", "-p", str(pid)],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return False
    return "orchestrator.watchdog" in command and stack_id in command


def main(argv: list[str]) -> int:
    owner, stack_id, directory = argv
    child = os.fork()
    if child:
        print(child, flush=True)
        return 0
    os.setsid()
    log = open(Path(directory) / "watchdog.log", "a", buffering=1)  # noqa: SIM115
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    outcome = watch(owner, stack_id, StateDir(Path(directory)))
    print(f"watchdog for stack {stack_id}: {outcome}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
