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

import os
import shutil
import sys
import time
from pathlib import Path

from orchestrator.engine import connect
from orchestrator.owner import owner_alive
from orchestrator.stack import remove_stack
from orchestrator.state import StateDir

POLL_INTERVAL = 0.5  # seconds; with removal, well inside the 10 s promise
SECOND_SWEEP_DELAY = 1.0  # seconds


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
            client = connect()
            removed = remove_stack(client, stack_id)
            # A container the owner asked for just before it died may appear a moment later.
            time.sleep(SECOND_SWEEP_DELAY)
            removed += remove_stack(client, stack_id)
            shutil.rmtree(state_dir.path, ignore_errors=True)
            return f"owner {owner} died: removed {removed} containers and networks"
        time.sleep(POLL_INTERVAL)


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
