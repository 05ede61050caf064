"""Faults eager mode cannot show: a worker killed mid-task, with and without acks_late.

``settle_invoice`` is acknowledged late and rejected when its worker is lost: a worker
SIGKILLed while the payment gateway answers leaves the message unacknowledged, the
broker gives it to the fresh worker, and the payment is settled once. The same work
with Celery's default acknowledgement is gone with the worker. Both run on the slice's
own worker, so they touch no other process of the run.
"""

import time

import pytest
from billing.models import Invoice, Payment
from billing.tasks import settle_invoice, settle_invoice_acked_early
from celery.exceptions import TimeoutError as ResultTimeout

from tests.integration.inner import run_session

# The gateway takes BILLING_GATEWAY_DELAY (2 s): the worker is killed within it.
STARTED_WAIT = 20
RESULT_TIMEOUT = 30
# Long enough for a redelivered task to have run (start, 2 s gateway, result) twice over.
LOST_WAIT = 8

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def on_rabbitmq(stack):
    """Redelivery of an unacknowledged task at once is RabbitMQ's (a Redis broker gives
    it back only after its visibility timeout, an hour by default)."""
    if stack.role("broker") != "rabbitmq":
        pytest.skip("a Redis broker redelivers after visibility_timeout (1 h by default)")


def attempts_once_started(invoice: Invoice) -> int:
    """Wait until the worker has started settling the invoice; its attempts so far."""
    deadline = time.monotonic() + STARTED_WAIT
    while time.monotonic() < deadline:
        payment = Payment.objects.filter(invoice=invoice).first()
        if payment is not None and payment.attempts:
            return payment.attempts
        time.sleep(0.05)
    raise AssertionError(f"the worker did not start settling {invoice} in {STARTED_WAIT}s")


def test_acks_late_payment_survives_a_worker_killed_mid_task_and_settles_once(
    stack_celery_app, stack_worker, stack_faults, make_invoice, on_rabbitmq
):
    invoice = make_invoice()
    result = settle_invoice.delay(invoice.id)
    assert attempts_once_started(invoice) == 1

    stack_faults.kill_worker()  # SIGKILL, in the gateway's call
    assert Payment.objects.get(invoice=invoice).settled_at is None
    node = stack_faults.start_worker()

    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    assert result.worker == node  # the fresh worker container ran it
    payment = Payment.objects.get(invoice=invoice)
    assert payment.attempts == 2  # started on the killed worker, run again on the new one
    assert payment.settled_at is not None


def test_a_payment_acknowledged_early_is_lost_with_its_worker(
    stack_celery_app, stack_worker, stack_faults, make_invoice, on_rabbitmq
):
    invoice = make_invoice()
    result = settle_invoice_acked_early.delay(invoice.id)
    assert attempts_once_started(invoice) == 1

    stack_faults.kill_worker()
    stack_faults.start_worker()

    with pytest.raises(ResultTimeout):
        result.get(timeout=LOST_WAIT)
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.attempts, payment.settled_at) == (1, None)  # never run again: lost


WORKER_DIES = """
import threading

import pytest
from billing.models import Invoice
from billing.tasks import send_invoice_email, settle_invoice_acked_early

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def new_invoice(number):
    return Invoice.objects.create(number=number, amount="1.00", customer_email="a@b.example")


def test_1_a_wait_on_a_worker_that_dies_ends_naming_it(stack, stack_celery_app):
    result = settle_invoice_acked_early.delay(new_invoice("INV-1").id)  # a 2 s gateway call
    crash = threading.Timer(0.5, stack.container(stack.worker_name).kill)  # not stack_faults
    crash.start()
    try:
        result.get(timeout=30)
    finally:
        crash.join()


def test_2_the_next_test_has_a_new_worker(stack_celery_app):
    invoice = new_invoice("INV-2")
    assert send_invoice_email.delay(invoice.id).get(timeout=30) == invoice.id


@pytest.fixture
def worker_crashes_after(stack, stack_worker):
    yield
    stack.container(stack.worker_name).kill()  # between tests: no test is interrupted


def test_3_the_worker_dies_after_it(worker_crashes_after):
    pass


def test_4_the_next_test_is_told(stack_celery_app):
    pass


def test_5_the_one_after_has_a_worker(stack_celery_app, stack_worker):
    invoice = new_invoice("INV-5")
    assert send_invoice_email.delay(invoice.id).get(timeout=30) == invoice.id
"""


@pytest.mark.timeout(180)  # a stack of its own, whose worker is replaced twice
def test_a_dead_worker_fails_the_waiting_test_or_the_next_one_at_once_naming_it(
    pytestconfig, tmp_path
):
    from xml.etree import ElementTree

    junit = tmp_path / "junit.xml"

    completed = run_session(pytestconfig.rootpath, tmp_path, WORKER_DIES, f"--junitxml={junit}")

    assert completed.returncode == 1, completed.stdout[-3000:]
    assert "1 failed, 3 passed, 1 error" in completed.stdout, completed.stdout[-6000:]
    cases = {case.get("name"): case for case in ElementTree.parse(junit).iter("testcase")}
    # Interrupted where it waited, by the engine's report: not the result's 30 s timeout.
    waited = cases["test_1_a_wait_on_a_worker_that_dies_ends_naming_it"].find("failure")
    assert waited is not None
    assert "the container worker-main exited with code 137 at " in waited.get("message", "")
    assert "UTC during " in waited.get("message", "")
    assert "TimeoutError" not in waited.get("message", "")
    # Died between tests: the next test that needs it fails at set-up, before any wait.
    told = cases["test_4_the_next_test_is_told"].find("error")
    assert told is not None
    assert "the worker container worker-main exited with code 137 at " in told.get("message", "")
    assert "TimeoutError" not in told.get("message", "")
    # Each failure's report lists the deaths so far, those between tests included.
    assert "stackyard: containers that died" in completed.stdout
    assert "exited with code 137 at " in completed.stdout.split("between tests")[0][-80:]
