"""A kept stack's browser drawn on a virtual display that a person can watch (VNC, noVNC)."""

import re
import socket
import urllib.request

from orchestrator.engine import published_host
from tests.integration.inner import orchestrator, run_inner, write_test

BROWSER_TEST = """
import pytest
from selenium.webdriver.common.by import By


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_login_page_in_a_headed_browser(channels_live_server, browser):
    assert browser.execute_script("return navigator.webdriver") is True
    assert "Headless" not in browser.execute_script("return navigator.userAgent")
    browser.get(channels_live_server.url + "/accounts/login/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign in"
"""


def test_headed_kept_stack_serves_vnc_and_novnc_and_runs_browser_tests(pytestconfig, tmp_path):
    root, state = pytestconfig.rootpath, tmp_path / "state"
    host = published_host()  # this machine's loopback, or a remote engine's address
    try:
        started = orchestrator(root, state, "up", "--headed", "--workers", "0")
        assert started.returncode == 0, started.stderr

        status = orchestrator(root, state, "status")
        assert status.returncode == 0, status.stderr
        at = re.escape(host)
        viewer = re.search(
            rf"watch the browser: http://{at}:(\d+)/vnc\.html or "
            rf"vnc://{at}:(\d+) \(password (\w+)\)",
            status.stdout,
        )
        assert viewer, status.stdout
        novnc_port, vnc_port = int(viewer[1]), int(viewer[2])

        with socket.create_connection((host, vnc_port), timeout=10) as vnc:
            assert vnc.recv(12).startswith(b"RFB 003.")
        with urllib.request.urlopen(f"http://{host}:{novnc_port}/vnc.html", timeout=10) as page:
            assert b"noVNC" in page.read()

        test_file = write_test(tmp_path, BROWSER_TEST)
        completed = run_inner(root, test_file, state, "-p", "no:xdist")
        assert completed.returncode == 0, completed.stdout[-3000:]
    finally:
        orchestrator(root, state, "down")
