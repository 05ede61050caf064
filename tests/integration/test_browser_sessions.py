"""Browser sessions are reused from test to test (a new one costs ~0.4 s) and each test
still starts clean: no login, nothing stored, a blank tab."""

import pytest

from tests.integration.browser_helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The session each shape of test used, by the first test of the pair (module order).
SESSIONS: dict[str, str] = {}


def leave_traces(browser, base_url: str, user) -> None:
    log_in(browser, base_url, user)
    browser.get(f"{base_url}/chat/lobby/")
    assert "/accounts/login/" not in browser.current_url  # logged in
    browser.execute_script("localStorage.setItem('left', '1'); sessionStorage.setItem('left', '1')")


def traces(browser, base_url: str) -> dict[str, object]:
    browser.get(f"{base_url}/chat/lobby/")
    return {
        "logged in": "/accounts/login/" not in browser.current_url,
        "localStorage": browser.execute_script("return localStorage.getItem('left')"),
        "sessionStorage": browser.execute_script("return sessionStorage.getItem('left')"),
        "tabs": len(browser.window_handles),
    }


CLEAN = {"logged in": False, "localStorage": None, "sessionStorage": None, "tabs": 1}


def test_a_function_logs_in_and_stores(channels_live_server, browser, django_user_model):
    SESSIONS["functions"] = browser.session_id
    leave_traces(browser, channels_live_server.url, django_user_model.objects.create_user("ada"))
    browser.switch_to.new_window("tab")  # and leaves a second tab open


def test_the_next_function_reuses_that_session_clean(channels_live_server, browser):
    assert browser.session_id == SESSIONS["functions"]  # one session per process
    assert traces(browser, channels_live_server.url) == CLEAN


class TestAClassOfBrowserTests:
    def test_one_logs_in_and_stores(self, channels_live_server, browser, django_user_model):
        SESSIONS["class"] = browser.session_id
        user = django_user_model.objects.create_user("bob")
        leave_traces(browser, channels_live_server.url, user)

    def test_the_next_reuses_the_session_clean(self, channels_live_server, browser):
        assert browser.session_id == SESSIONS["class"]
        assert traces(browser, channels_live_server.url) == CLEAN


class TestAnotherClass:
    def test_it_reuses_the_process_session_clean(self, channels_live_server, browser, request):
        # One session per process for classes and functions alike (~0.4 s each saved);
        # --dist loadscope may run this class in another process than the tests above.
        shared = request.getfixturevalue("_shared_browser_sessions")
        assert browser in shared.sessions.values()
        for earlier in ("class", "functions"):
            if earlier in SESSIONS:  # ran in this process
                assert browser.session_id == SESSIONS[earlier]
        assert traces(browser, channels_live_server.url) == CLEAN
