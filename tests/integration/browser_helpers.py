"""Helpers for driving the reference app's pages in the container browser."""

from django.conf import settings
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# Bound on every wait for the page: a task through the worker container takes well
# under a second; 30 s means the update is not coming.
PAGE_WAIT = 30


def log_in(driver, base_url: str, user) -> None:
    """Give the browser a session of ``user`` on the live server's origin."""
    client = Client()
    client.force_login(user)
    driver.get(f"{base_url}/accounts/login/")  # a cookie can only be set for the open origin
    driver.add_cookie(
        {
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "path": "/",
        }
    )


def wait_for_state(driver, state: str) -> None:
    WebDriverWait(driver, PAGE_WAIT).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == state,
        f"page status never became {state!r}",
    )


def open_room(driver, base_url: str, room: str) -> None:
    driver.get(f"{base_url}/chat/{room}/")
    wait_for_state(driver, "open")


def say(driver, text: str) -> None:
    field = driver.find_element(By.ID, "message-input")
    field.send_keys(text)
    driver.find_element(By.ID, "send-button").click()


def wait_for_message(driver, author: str, text: str) -> None:
    def seen(d) -> bool:
        items = d.find_elements(By.CSS_SELECTOR, "#messages li.message")
        return any(item.text == f"{author}: {text}" for item in items)

    WebDriverWait(driver, PAGE_WAIT).until(seen, f"{author}: {text!r} never appeared")
