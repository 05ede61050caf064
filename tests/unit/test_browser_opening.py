"""The session opened before the first browser test: who gets it, and what is left of it."""

import threading
import time

import pytest

from fixtures import browser as browser_module
from fixtures.browser import BrowserNotReady, OpeningSession, SharedSessions

ORIGIN = "http://host.docker.internal:40001"


class Driver:
    def __init__(self, name):
        self.name = name
        self.quit_calls = 0

    def quit(self):
        self.quit_calls += 1


class Stack:
    headed = False

    def webdriver_url(self):
        return "http://browser:4444"


@pytest.fixture
def opened(monkeypatch):
    """Sessions new_session made, in order."""
    made = []

    def new_session(url, headed, options, origins):
        made.append(Driver(f"session-{len(made)}:{','.join(origins)}"))
        return made[-1]

    monkeypatch.setattr(browser_module, "new_session", new_session)
    return made


def test_the_first_test_of_the_kind_takes_the_opened_session(opened):
    opening = OpeningSession([ORIGIN])
    opening.open(Stack())

    shared = SharedSessions(Stack(), opening)
    assert shared.get([ORIGIN], None) is opened[0]
    assert opening.take([ORIGIN], 1) is None  # taken once


def test_a_test_of_another_kind_opens_its_own_and_the_opened_one_is_quit_at_the_end(opened):
    opening = OpeningSession([ORIGIN])
    opening.open(Stack())
    shared = SharedSessions(Stack(), opening)

    own = shared.get([], None)

    assert own is opened[1]
    assert own is not opened[0]
    shared.quit()
    assert opened[0].quit_calls == 1
    assert own.quit_calls == 1


def test_a_suites_own_options_never_take_the_opened_session(opened):
    opening = OpeningSession([])
    opening.open(Stack())
    shared = SharedSessions(Stack(), opening)

    assert shared.get([], object()) is opened[1]


def test_an_opening_not_begun_when_the_test_asks_is_called_off(opened):
    opening = OpeningSession([ORIGIN])
    shared = SharedSessions(Stack(), opening)

    own = shared.get([ORIGIN], None)
    opening.open(Stack())  # the stack came later: nothing more is opened

    assert opened == [own]


def test_a_failed_opening_leaves_the_test_to_open_its_own(monkeypatch, opened):
    def broken(*args):
        raise RuntimeError("chromedriver said no")

    opening = OpeningSession([])
    monkeypatch.setattr(browser_module, "new_session", broken)
    opening.open(Stack())

    assert opening.take([], 1) is None


def test_a_test_waits_for_an_opening_under_way_within_its_bound(monkeypatch):
    release = threading.Event()

    def slow(*args):
        release.wait(10)
        return Driver("slow")

    monkeypatch.setattr(browser_module, "new_session", slow)
    opening = OpeningSession([])
    opener = threading.Thread(target=opening.open, args=(Stack(),))
    opener.start()
    try:
        deadline = time.monotonic() + 10
        while not opening._future.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(BrowserNotReady, match="not ready within 0s"):
            opening.take([], 0.05)
    finally:
        release.set()
        opener.join(10)


def test_an_opening_nobody_took_is_quit_when_the_process_ends(opened):
    opening = OpeningSession([])
    opening.open(Stack())

    opening.discard()
    opening.discard()

    assert opened[0].quit_calls == 1


class Config:
    """What session_to_open uses of pytest's config."""

    def __init__(self):
        self.stash = pytest.Stash()
        self.cleanups = []

    def add_cleanup(self, function):
        self.cleanups.append(function)


def default_options():
    """Stands for stackyard's own browser_options fixture."""


default_options.__module__ = browser_module.__name__


class Item:
    """A collected test using ``names``, with stackyard's browser_options."""

    def __init__(self, *names):
        self.fixturenames = ["browser_options", *names]
        definition = type("FixtureDef", (), {"func": staticmethod(default_options)})
        self._fixtureinfo = type(
            "Info", (), {"name2fixturedefs": {"browser_options": [definition]}}
        )


# Most of them use the live server.
LIVE_SERVER_TESTS = [
    Item("browser", "channels_live_server"),
    Item("browser"),
    Item("browser", "channels_live_server"),
]


def test_the_live_servers_port_is_chosen_for_the_session_opened_before_it(monkeypatch):
    monkeypatch.setattr(browser_module, "_daphne_takes_a_port", lambda: True)
    config = Config()

    opening = browser_module.session_to_open(config, LIVE_SERVER_TESTS)

    port = config.stash[browser_module.live_port_key]
    assert opening is not None
    assert opening.origins == (f"http://host.docker.internal:{port}",)
    assert config.cleanups == [opening.discard]


def test_with_a_daphne_that_takes_no_port_nothing_is_opened_for_the_live_server(monkeypatch):
    """Daphne before 4.2 listens where the kernel says: the origin is not known in advance."""
    monkeypatch.setattr(browser_module, "_daphne_takes_a_port", lambda: False)
    config = Config()

    assert browser_module.session_to_open(config, LIVE_SERVER_TESTS) is None
    assert browser_module.live_port_key not in config.stash
    # Tests without the live server still get theirs opened.
    opening = browser_module.session_to_open(config, [Item("browser"), Item("browser")])
    assert opening is not None
    assert opening.origins == ()


def test_the_installed_daphne_takes_a_port():
    assert browser_module._daphne_takes_a_port()  # daphne 4.2 or newer here
