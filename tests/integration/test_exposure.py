"""Who can reach what: the browser's WebDriver answers the test process only, and the
servers' processes run without root; what runs in the containers."""

import json
import time

import pytest

from fixtures.browser import new_session

pytestmark = pytest.mark.integration

STATUS_FROM_WORKER = """
import json, urllib.error, urllib.request
try:
    with urllib.request.urlopen("http://browser:4444/status", timeout=10) as reply:
        print(json.dumps({"status": reply.status}))
except urllib.error.HTTPError as error:
    print(json.dumps({"status": error.code}))
except OSError as error:
    print(json.dumps({"refused": str(error)}))
"""


@pytest.mark.django_db(transaction=True)
def test_webdriver_answers_the_test_process_and_refuses_other_containers(
    stack, stack_worker, browser
):
    assert browser.title is not None  # the session this process opened works

    code, output = stack.container(stack.worker_name).exec_run(
        ["python3", "-c", STATUS_FROM_WORKER]
    )

    assert code == 0, output
    reply = json.loads(output.decode().strip().splitlines()[-1])
    assert reply.get("status") != 200, reply  # chromedriver refuses an address not allowed


@pytest.mark.parametrize("service", ["browser", "redis"])
def test_servers_run_without_root(stack, service, browser):
    if service not in stack.services():
        pytest.skip(f"this run's roles use no {service} container")
    code, output = stack.container(service).exec_run(["cat", "/proc/1/status"])

    assert code == 0, output
    uids = next(line for line in output.decode().splitlines() if line.startswith("Uid:"))
    assert "0" not in uids.split()[1:], uids  # real, effective, saved, filesystem


# Seconds the container's first process takes to reap the processes of a session that
# ended: at once; 10 s means nobody reaps them.
REAP_WAIT = 10.0


def defunct(stack, service: str) -> list[str]:
    """The processes in a service's container that ended and that nobody reaped."""
    code, output = stack.container(service).exec_run(
        ["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"]
    )
    assert code == 0, output
    left = []
    for line in output.decode(errors="replace").splitlines():
        name, _, rest = line.rpartition(")")  # the name is in parentheses, maybe with spaces
        if rest.split()[:1] == ["Z"]:
            left.append(name.partition("(")[2])
    return left


def test_ended_browser_sessions_leave_no_processes_behind(stack, browser):
    """Chromium's processes of a session that quit are reaped; unreaped, each session
    kept ~9 pids, and a kept browser would refuse new ones at its pids limit."""
    for _ in range(2):
        driver = new_session(stack.webdriver_url())
        try:
            driver.get("data:text/html,<p>hi</p>")
        finally:
            driver.quit()

    left = reaped_late(stack, "browser")

    assert not left, f"processes left unreaped in the browser container: {left}"


def test_the_worker_container_reaps_orphaned_processes(stack, stack_worker):
    """What a task's tools leave behind (a helper whose parent ended) is reaped; unreaped,
    each holds a pid until the worker's limit of 1024 refuses its next fork."""
    # The subshell ends at once: its background sleep is orphaned, handed to the
    # container's first process, and ends 0.2 s later.
    code, output = stack.container(stack.worker_name).exec_run(
        ["sh", "-c", "for n in 1 2 3; do (sleep 0.2 &); done"]
    )
    assert code == 0, output
    time.sleep(0.5)  # the sleeps have ended

    left = reaped_late(stack, stack.worker_name)

    assert not left, f"processes left unreaped in the worker container: {left}"


def reaped_late(stack, service: str) -> list[str]:
    """The unreaped processes of a container still there after REAP_WAIT, if any."""
    deadline = time.monotonic() + REAP_WAIT
    while (left := defunct(stack, service)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
