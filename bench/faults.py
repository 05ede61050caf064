"""Fault probes, repeated: how the stack behaves when its containers die or restart.

Each round runs one pytest session of this repository's configuration with a stack of
its own (its own state directory), in one process, whose tests:

- restart the broker and compare its host port before and after;
- kill the worker container behind stackyard's back while a result is awaited, and
  time how long the wait takes to fail, and whether the failure names the worker;
- leave a result pending (its task never ran: the worker was killed by stack_faults)
  and a Redis restarted, the two things that used to stall a run's exit.

A plugin of the probe records when the last test ended; the process's end is timed
from outside. It prints per round, then the worst of all rounds:

    .venv/bin/python bench/faults.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUND_TIMEOUT = 600

PROBES = """
import json
import os
import threading
import time

import pytest
from billing.models import Invoice
from billing.tasks import send_invoice_email, settle_invoice_acked_early
from celery.exceptions import TimeoutError as ResultTimeout

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
RECORD = os.environ["PROBE_RECORD"]


def record(**figures):
    with open(RECORD, "a") as out:
        out.write(json.dumps(figures) + "\\n")


def new_invoice(number):
    return Invoice.objects.create(number=number, amount="1.00", customer_email="a@b.example")


def test_a_restarted_broker_keeps_its_port(stack, stack_celery_app, stack_faults):
    before = stack.address(stack.role("broker"))
    seconds = stack_faults.restart("broker")
    record(broker_port_kept=stack.address(stack.role("broker")) == before, restart_s=seconds)
    stack.reset()
    invoice = new_invoice("INV-1")
    assert send_invoice_email.delay(invoice.id).get(timeout=30) == invoice.id


def test_a_wait_on_a_worker_that_dies(stack, stack_celery_app):
    result = settle_invoice_acked_early.delay(new_invoice("INV-2").id)
    container = stack.container(stack.worker_name)
    killed = {}

    def crash():
        killed["at"] = time.monotonic()
        container.kill()

    timer = threading.Timer(0.5, crash)
    timer.start()
    try:
        with pytest.raises(pytest.fail.Exception) as failure:
            result.get(timeout=30)
    finally:
        timer.join()
    record(
        death_to_failure_s=time.monotonic() - killed["at"],
        names_worker=f"{stack.worker_name} exited with code 137" in str(failure.value),
    )


def test_leaves_a_result_pending_and_redis_restarted(stack, stack_celery_app, stack_faults):
    stack_faults.kill_worker()
    result = send_invoice_email.delay(new_invoice("INV-3").id)
    with pytest.raises(ResultTimeout):
        result.get(timeout=1)
    stack_faults.restart("results")
    stack_faults.start_worker()
"""

PLUGIN = """
import json
import os
import time


def pytest_runtest_logfinish(nodeid, location):
    with open(os.environ["PROBE_RECORD"], "a") as out:
        out.write(json.dumps({"test_ended": time.time()}) + "\\n")
"""


def one_round(work: Path) -> dict[str, object]:
    work.mkdir()
    (work / "test_probes.py").write_text(textwrap.dedent(PROBES))
    (work / "probe_plugin.py").write_text(textwrap.dedent(PLUGIN))
    record = work / "record.jsonl"
    command = [
        sys.executable, "-m", "pytest", str(work / "test_probes.py"), "--rootdir", str(ROOT),
        "-c", str(ROOT / "pyproject.toml"), "-p", "no:cacheprovider", "-p", "no:xdist",
        "-p", "no:randomly", "-p", "probe_plugin", "-q",
    ]  # fmt: skip
    environment = {
        **os.environ,
        "ORCHESTRATOR_STATE_DIR": str(work / "state"),
        "PROBE_RECORD": str(record),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(work), os.environ.get("PYTHONPATH")])),
    }
    completed = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=ROUND_TIMEOUT, check=False,
    )  # fmt: skip
    ended = time.time()
    figures: dict[str, object] = {}
    last_test = 0.0
    for line in record.read_text().splitlines() if record.exists() else []:
        entry = json.loads(line)
        last_test = max(last_test, entry.pop("test_ended", 0.0))
        figures.update(entry)
    figures["passed"] = completed.returncode == 0
    figures["exit_after_last_test_s"] = ended - last_test if last_test else float("nan")
    if completed.returncode != 0:
        figures["output"] = completed.stdout[-3000:] + completed.stderr[-2000:]
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    with tempfile.TemporaryDirectory(prefix="stackyard-faults-") as work:
        for number in range(1, args.rounds + 1):
            figures = one_round(Path(work) / f"round-{number}")
            rounds.append(figures)
            print(
                f"round {number}: passed={figures['passed']} "
                f"broker port kept={figures.get('broker_port_kept')} "
                f"restart {figures.get('restart_s', float('nan')):.2f}s "
                f"death->failure {figures.get('death_to_failure_s', float('nan')):.2f}s "
                f"names worker={figures.get('names_worker')} "
                f"exit after last test {figures['exit_after_last_test_s']:.2f}s",
                flush=True,
            )
            if "output" in figures:
                print(figures["output"])

    def worst(key: str) -> str:
        values = [float(str(r[key])) for r in rounds if key in r]
        if not values:
            return "n/a"
        return f"max {max(values):.2f}s, median {statistics.median(values):.2f}s"

    def count(key: str) -> str:
        return f"{sum(1 for r in rounds if r.get(key) is True)}/{len(rounds)}"

    print()
    print(f"{'probe':<44} result ({len(rounds)} rounds)")
    print(f"{'session passed':<44} {count('passed')}")
    print(f"{'restarted broker kept its host port':<44} {count('broker_port_kept')}")
    print(f"{'broker restart, until ready again':<44} {worst('restart_s')}")
    print(f"{'worker killed -> waiting test failed':<44} {worst('death_to_failure_s')}")
    print(f"{'that failure named the worker':<44} {count('names_worker')}")
    print(f"{'process exit after the last test':<44} {worst('exit_after_last_test_s')}")
    return 0 if all(r["passed"] for r in rounds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
