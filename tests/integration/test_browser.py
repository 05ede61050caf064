"""The reference app in a real browser, served by Daphne, on the stack's services."""

import pytest
from billing.models import EmailLog, Invoice
from chat.models import Message
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from fixtures.browser import save_artifacts
from tests.integration.browser_helpers import (
    PAGE_WAIT,
    log_in,
    open_room,
    say,
    wait_for_message,
    wait_for_state,
)

pytestmark = pytest.mark.browser


def test_dashboard_shows_the_status_the_worker_container_announces(
    channels_live_server, browser, stack_celery_app, user, make_invoice
):
    invoice = make_invoice()
    log_in(browser, channels_live_server.url, user)
    browser.get(f"{channels_live_server.url}/billing/")
    wait_for_state(browser, "live")

    browser.find_element(By.CSS_SELECTOR, f'tr[data-invoice="{invoice.id}"] button.send').click()

    # POST -> view -> on_commit -> RabbitMQ -> worker container -> database
    # -> channels-redis group -> Daphne's consumer -> this page.
    WebDriverWait(browser, PAGE_WAIT).until(
        expected_conditions.text_to_be_present_in_element(
            (By.ID, f"invoice-{invoice.id}-status"), "emailed"
        )
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EMAILED
    assert EmailLog.objects.filter(invoice=invoice).count() == 1


def test_two_browsers_chat_in_one_room(
    channels_live_server, browser, browser_factory, django_user_model
):
    ada = django_user_model.objects.create_user("ada", password="unused-password-1")
    bob = django_user_model.objects.create_user("bob", password="unused-password-2")
    second = browser_factory()
    for driver, user in ((browser, ada), (second, bob)):
        log_in(driver, channels_live_server.url, user)
        open_room(driver, channels_live_server.url, "lobby")

    say(browser, "hello bob")
    wait_for_message(second, "ada", "hello bob")
    say(second, "hi ada")
    wait_for_message(browser, "bob", "hi ada")

    assert list(Message.objects.values_list("author__username", "body")) == [
        ("ada", "hello bob"),
        ("bob", "hi ada"),
    ]


def test_failure_artifacts_hold_screenshot_page_console_and_service_logs(
    channels_live_server, browser, request, tmp_path, stack
):
    browser.get(f"{channels_live_server.url}/accounts/login/")
    browser.execute_script("console.error('boom from the page')")

    written = {path.name: path for path in save_artifacts(request.node, tmp_path)}

    assert written["browser-0-screenshot.png"].read_bytes().startswith(b"\x89PNG")
    assert "Sign in" in written["browser-0-page.html"].read_text()
    assert "boom from the page" in written["browser-0-console.json"].read_text()
    assert written["browser-0-url.txt"].read_text().startswith(channels_live_server.url)
    broker = stack.role("broker")  # RabbitMQ, or the stack's Redis
    ready = {"rabbitmq": "Starting broker", "redis": "Ready to accept connections"}[broker]
    assert ready in written[f"{broker}.log"].read_text()
    assert {"redis.log", "browser.log"} <= set(written)


def test_the_live_server_listens_only_where_the_containers_reach_this_machine(
    channels_live_server,
):
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    from orchestrator.api import live_server_address

    local = urlsplit(channels_live_server.local_url)
    if live_server_address() != "0.0.0.0":
        assert local.hostname != "127.0.0.1"  # the bridge's gateway, on this local engine
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", local.port), timeout=5).close()
    else:
        # A remote engine's containers come from the network, and a Podman without its
        # default bridge (or one that maps host-gateway itself) from an address stackyard
        # does not know beforehand: it listens on every interface (make test-remote and
        # make test-podman run this test there).
        assert local.hostname == "127.0.0.1"
    login = f"{channels_live_server.local_url}/accounts/login/"
    with urllib.request.urlopen(login, timeout=10) as page:
        assert page.status == 200
