"""The TestCase flavour of the live server: Django's unittest style, on the stack.

No fixture is copied into these classes: the plugin starts the stack and points
the project at it before ``setUpClass`` forks the server, and ``self.browser`` is
the container browser.
"""

from decimal import Decimal

from billing.models import EmailLog, Invoice
from celery import current_app
from chat.models import Message
from django.contrib.auth.models import User
from example_project.mail import FLAKY_DOMAIN
from selenium.webdriver import ChromeOptions
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from fixtures.live_server import ContainerLiveServerTestCase
from tests.integration.browser_helpers import (
    PAGE_WAIT,
    log_in,
    open_room,
    say,
    wait_for_message,
    wait_for_state,
)


def stored_results(app) -> list[dict]:
    """Every task result in the app's (the stack's) result backend."""
    backend = app.backend
    keys = backend.client.keys(f"{backend.task_keyprefix.decode()}*")
    return [backend.decode_result(backend.client.get(key)) for key in keys]


class DashboardTests(ContainerLiveServerTestCase):
    def test_the_worker_container_emails_the_invoice_and_the_page_hears_it(self):
        user = User.objects.create_user("dana", password="unused-password-4")
        invoice = Invoice.objects.create(
            number="INV-TC-1", customer_email=f"dana@{FLAKY_DOMAIN}", amount=Decimal("12.00")
        )
        log_in(self.browser, self.live_server_url, user)
        # The page's script is a static file: "live" means it was served and ran.
        self.browser.get(f"{self.live_server_url}/billing/")
        wait_for_state(self.browser, "live")

        self.browser.find_element(
            By.CSS_SELECTOR, f'tr[data-invoice="{invoice.id}"] button.send'
        ).click()

        # POST -> Daphne -> on_commit -> RabbitMQ -> worker container (fails once, retries
        # through the broker) -> database -> group_send on the stack's Redis -> this page.
        WebDriverWait(self.browser, PAGE_WAIT).until(
            expected_conditions.text_to_be_present_in_element(
                (By.ID, f"invoice-{invoice.id}-status"), "emailed"
            )
        )
        # The worker container ran it: only its settings fail the first delivery, and
        # only a worker stores the task's result, naming its node.
        assert EmailLog.objects.get(invoice=invoice).attempts == 2
        sent = [r for r in stored_results(current_app) if r["name"].endswith("send_invoice_email")]
        assert [r["status"] for r in sent] == ["SUCCESS"], sent
        assert sent[0]["worker"].startswith("worker-"), sent[0]["worker"]
        assert sent[0]["worker"].endswith("@stackyard"), sent[0]["worker"]


class RoomPageTests(ContainerLiveServerTestCase):
    def test_message_typed_in_the_page_comes_back_and_is_saved(self):
        user = User.objects.create_user("carol", password="unused-password-3")
        assert self.live_server_url.startswith("http://host.docker.internal:")
        log_in(self.browser, self.live_server_url, user)
        open_room(self.browser, self.live_server_url, "testcase")

        say(self.browser, "through a TestCase")
        wait_for_message(self.browser, "carol", "through a TestCase")

        assert Message.objects.get().body == "through a TestCase"


class OwnBrowserOptionsTests(ContainerLiveServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        options = ChromeOptions()
        options.add_argument("--window-size=640,480")
        cls.small = cls.open_browser(options)

    def test_a_session_opened_in_setupclass_keeps_the_suites_options(self):
        self.small.get(f"{self.live_server_url}/accounts/login/")

        assert self.small.execute_script("return window.outerWidth") == 640
        # Like a local Chrome driver: the console log, and the server's origin is secure.
        self.small.execute_script("console.warn('from the page')")
        assert any("from the page" in entry["message"] for entry in self.small.get_log("browser"))
        assert self.small.execute_script("return window.isSecureContext") is True
