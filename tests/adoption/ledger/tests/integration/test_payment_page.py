"""Django's unittest style: a live server on the stack, the container browser."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from fixtures.live_server import ContainerLiveServerTestCase
from payments.models import Payment

WAIT = 30


class PaymentPageTests(ContainerLiveServerTestCase):
    def test_settle_from_the_page_and_see_the_worker_answer(self):
        payment = Payment.objects.create(reference="P-9", amount_cents=990000)
        page = self.browser
        page.get(f"{self.live_server_url}/payments/{payment.id}/")
        # "live" is set by the page's script, a static file: it was served and ran.
        WebDriverWait(page, WAIT).until(
            lambda d: d.find_element(By.ID, "socket").get_attribute("data-state") == "live"
        )

        page.find_element(By.ID, "settle").click()

        WebDriverWait(page, WAIT).until(lambda d: d.find_element(By.ID, "by").text)
        assert page.find_element(By.ID, "state").text == "9,900 settled"
        worker = page.find_element(By.ID, "by").text
        # The worker container ran it, and its group_send reached the page through Redis.
        assert worker.startswith("worker-"), worker
        payment.refresh_from_db()
        assert (payment.settled, payment.settled_by) == (True, worker)
