"""The browser session a process's first browser test gets is opened in the background,
while the stack and the test database are made: of the kind most of its browser tests
use (the live server's origin counted secure, at a port chosen before the server runs),
and only with stackyard's own browser options."""

import json

import pytest

from tests.integration.inner import run_session, write_test

# Each browser test records what it got: the process's session opened in the background
# (the object the test got, its origins), the live server's URL, whether the page there
# is a secure context.
RECORDING = """
import json, pathlib
import pytest
from fixtures.browser import opening_key

RECORDS = pathlib.Path({records!r})
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def record(name, request, browser, server=None):
    opening = request.config.stash.get(opening_key, None)
    seen = {{
        "session": browser.session_id,
        "opened in the background": opening is not None
        and opening._future.done()
        and opening._future.result() is browser,
        "origins": list(opening.origins) if opening is not None else None,
    }}
    if server is not None:
        browser.get(server.url + "/accounts/login/")
        seen["server"] = server.url
        seen["secure"] = browser.execute_script("return window.isSecureContext")
    (RECORDS / name).write_text(json.dumps(seen))
"""

LIVE_SERVER_TESTS = (
    RECORDING
    + """

def test_first(channels_live_server, browser, request):
    record("first", request, browser, channels_live_server)


def test_second(channels_live_server, browser, request):
    record("second", request, browser, channels_live_server)


def test_without_the_server(browser, request):
    record("third", request, browser)
"""
)

OWN_OPTIONS = (
    RECORDING
    + """

@pytest.fixture(scope="session")
def browser_options():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.add_argument("--window-size=800,600")
    return options


def test_first(channels_live_server, browser, request):
    record("first", request, browser, channels_live_server)
"""
)


def recorded(pytestconfig, tmp_path, source):
    directory = tmp_path / "records"
    directory.mkdir()
    result = run_session(
        pytestconfig.rootpath, tmp_path, source.format(records=str(directory)), "-m", "integration"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return {path.name: json.loads(path.read_text()) for path in directory.iterdir()}


@pytest.mark.timeout(240)
def test_the_first_browser_test_gets_the_session_opened_for_the_live_server(pytestconfig, tmp_path):
    seen = recorded(pytestconfig, tmp_path, LIVE_SERVER_TESTS)

    first = seen["first"]
    assert first["opened in the background"], first
    # Opened before the server ran, for the port the server then listened on.
    assert first["origins"] == [first["server"]], first
    assert first["secure"] is True, first
    # Kept for the next test of its kind; a test of another kind (no live server, so no
    # origin to count secure) gets a session of its own.
    assert seen["second"]["session"] == first["session"], seen
    assert seen["second"]["secure"] is True, seen
    assert seen["third"]["session"] != first["session"], seen


@pytest.mark.timeout(240)
def test_a_suite_with_its_own_browser_options_opens_its_sessions_itself(pytestconfig, tmp_path):
    seen = recorded(pytestconfig, tmp_path, OWN_OPTIONS)

    first = seen["first"]
    assert first["origins"] is None, first  # nothing opened before the test asked
    assert first["secure"] is True, first


# Takes the port chosen for the live server before the server starts.
HOLDS_THE_PLANNED_PORT = """
import socket
import pytest
from fixtures.browser import live_port_key

HELD = []


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    held = socket.socket()
    held.bind(("", session.config.stash[live_port_key]))
    held.listen()
    HELD.append(held)
"""


@pytest.mark.timeout(240)
def test_a_planned_port_taken_meanwhile_gives_the_server_another_and_the_test_its_session(
    pytestconfig, tmp_path
):
    write_test(tmp_path, HOLDS_THE_PLANNED_PORT, "conftest.py")
    seen = recorded(pytestconfig, tmp_path, LIVE_SERVER_TESTS)

    first = seen["first"]
    assert first["origins"] != [first["server"]], first  # the server listens elsewhere
    assert not first["opened in the background"], first  # that session's origin is wrong
    assert first["secure"] is True, first  # this one is the server's
