"""Who can reach what: the browser's WebDriver answers the test process only, and the
servers' processes run without root."""

import json

import pytest

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
