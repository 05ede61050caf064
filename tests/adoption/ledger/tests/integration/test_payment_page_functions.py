"""pytest style: plain test functions on the `browser` fixture share one session."""

import pytest
from selenium.webdriver.common.by import By

from payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

first_session = []


def open_payment(browser, base_url, reference):
    payment = Payment.objects.create(reference=reference, amount_cents=1200)
    browser.get(f"{base_url}/payments/{payment.id}/")
    return browser.find_element(By.ID, "state").text


def test_the_page_shows_a_new_payment(channels_live_server, browser):
    first_session.append(browser.session_id)
    assert open_payment(browser, channels_live_server.url, "P-20") == "pending"
    browser.add_cookie({"name": "left-over", "value": "1", "path": "/"})


def test_the_next_function_gets_the_same_session_without_its_cookies(
    channels_live_server, browser
):
    assert browser.session_id == first_session[0]
    assert open_payment(browser, channels_live_server.url, "P-21") == "pending"
    assert browser.get_cookie("left-over") is None
