"""Faults on the run's shared servers, each in a session of its own (its own stack).

A restart of RabbitMQ or Redis is felt by every process of a run, so these tests run
an inner session (its own state directory, so its own stack) that causes them: the
outer run's servers are never touched.
"""

import pytest

from tests.integration.inner import run_session

SERVER_FAULTS = """
import time

import pytest
from billing.models import Invoice, Payment
from billing.tasks import send_invoice_email, settle_invoice
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.integration.browser_helpers import PAGE_WAIT, log_in, open_room, say, wait_for_message

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def new_invoice(number):
    return Invoice.objects.create(number=number, amount="10.00", customer_email="a@b.example")


def test_a_task_queued_before_a_broker_restart_runs_after_it(
    stack, stack_celery_app, stack_worker, stack_faults
):
    port = stack.address("rabbitmq")
    stack_faults.kill_worker()  # nothing consumes: the message waits in its durable queue
    invoice = new_invoice("INV-1")
    result = send_invoice_email.delay(invoice.id)

    stack_faults.restart("broker")  # returns once RabbitMQ accepts a login again

    assert stack.address("rabbitmq") == port  # clients reconnect where they were
    node = stack_faults.start_worker()
    assert result.get(timeout=30) == invoice.id
    assert result.worker == node
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EMAILED


def test_after_a_broker_restart_new_tasks_and_the_reset_work(stack, stack_celery_app):
    stack.reset()  # the previous test's restart left its connections stale
    invoice = new_invoice("INV-2")
    assert send_invoice_email.delay(invoice.id).get(timeout=30) == invoice.id


def test_results_come_back_after_redis_restarts(stack, stack_celery_app, stack_faults):
    port = stack.address("redis")
    stack_faults.restart("results")

    assert stack.address("redis") == port
    stack.reset()
    invoice = new_invoice("INV-3")
    assert send_invoice_email.delay(invoice.id).get(timeout=30) == invoice.id


def test_a_payment_is_retried_while_the_database_is_down_and_settles_once_it_is_back(
    stack_celery_app, stack_worker, stack_faults
):
    invoice = new_invoice("INV-4")
    stack_faults.kill("database")
    result = settle_invoice.delay(invoice.id)  # autoretry on the database's connection errors

    deadline = time.monotonic() + 30
    while result.state != "RETRY":  # the worker failed to reach the database, and said so
        assert time.monotonic() < deadline, f"no retry was scheduled: {result.state}"
        time.sleep(0.1)
    stack_faults.start("database")

    assert result.get(timeout=30) == invoice.id
    assert result.worker == stack_worker
    payment = Payment.objects.get(invoice=invoice)  # a new connection: the old one died
    assert payment.settled_at is not None
    assert payment.attempts == 1  # the tries before never reached the database


def connections(driver):
    return driver.find_element(By.ID, "status").get_attribute("data-connections")


def test_room_members_hear_each_other_after_the_channel_layer_restarts(
    channels_live_server, browser, browser_factory, django_user_model, stack_faults
):
    ada = django_user_model.objects.create_user("ada", password="unused-password-1")
    bob = django_user_model.objects.create_user("bob", password="unused-password-2")
    pages = {"ada": browser, "bob": browser_factory()}
    for name, user in (("ada", ada), ("bob", bob)):
        log_in(pages[name], channels_live_server.url, user)
        open_room(pages[name], channels_live_server.url, "lobby")
        assert connections(pages[name]) == "1"

    # Redis keeps nothing across the restart: the room's group is gone with it, and each
    # consumer's socket closes when its layer connection breaks.
    stack_faults.restart("channel_layer")

    for page in pages.values():  # each page opens a new socket, which joins the group again
        WebDriverWait(page, PAGE_WAIT).until(
            lambda d: connections(d) == "2"
            and d.find_element(By.ID, "status").get_attribute("data-state") == "open",
            "the page did not reconnect after the channel layer restarted",
        )
    say(pages["bob"], "still here?")
    wait_for_message(pages["ada"], "bob", "still here?")
    say(pages["ada"], "yes")
    wait_for_message(pages["bob"], "ada", "yes")
"""


@pytest.mark.timeout(180)  # a stack of its own, then five tests that restart its servers
def test_servers_restarted_mid_session_keep_their_ports_and_their_queued_work(
    pytestconfig, tmp_path
):
    completed = run_session(
        pytestconfig.rootpath, tmp_path, SERVER_FAULTS, ORCHESTRATOR_BROKER="rabbitmq"
    )

    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "5 passed" in completed.stdout
