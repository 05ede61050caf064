"""A Chromium browser behind a W3C WebDriver endpoint on port 4444.

docker/browser runs Debian's chromedriver; selenium/standalone-chromium offers
the same endpoint (and VNC/noVNC on the same ports). The container reaches
servers on the host as ``host.docker.internal``.
"""

from __future__ import annotations

import http.client
import secrets
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.probes import ATTEMPT_TIMEOUT, Locate, NotReadyYet, WebDriverStatus
from orchestrator.services.base import HOST_ALIAS, Service, Slice
from orchestrator.spec import ServiceSpec

NAME = "browser"
PORT = 4444
VNC_PORT = 5900
NOVNC_PORT = 7900


def browser_spec(
    image: str, startup_timeout: float, headed: bool = False, vnc_password: str = ""
) -> ServiceSpec:
    """Headless by default; ``headed`` draws on a virtual display shared over VNC and noVNC."""
    env = {"STACKYARD_HEADED": "1", "VNC_PASSWORD": vnc_password} if headed else {}
    return ServiceSpec(
        name=NAME,
        image=image,
        env=env,
        ports=(PORT, VNC_PORT, NOVNC_PORT) if headed else (PORT,),
        probe=HeadedReady(NAME, PORT, NOVNC_PORT) if headed else WebDriverStatus(NAME, PORT),
        # Chromium uses /dev/shm for rendering; Docker's default 64 MB crashes tabs.
        options={"shm_size": "512m", "extra_hosts": {HOST_ALIAS: "host-gateway"}},
        startup_timeout=startup_timeout,
        hint="the image must serve W3C WebDriver on port 4444 (like selenium/standalone-chromium)",
        # Chromium: a process per tab and renderer, a thread pool each.
        memory="2g",
        pids=4096,
    )


@dataclass(frozen=True)
class HeadedReady:
    """A headed browser is ready when WebDriver is and noVNC serves its page (the VNC
    server and noVNC's proxy start alongside Chromium, and may come up last)."""

    service: str
    port: int
    novnc_port: int

    def __str__(self) -> str:
        return f"WebDriver /status and noVNC's page on {self.service}"

    def attempt(self, locate: Locate) -> None:
        WebDriverStatus(self.service, self.port).attempt(locate)
        host, port = locate(self.service, self.novnc_port)
        try:
            with urllib.request.urlopen(
                f"http://{host}:{port}/vnc.html", timeout=ATTEMPT_TIMEOUT
            ) as page:
                page.read(1)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            raise NotReadyYet(f"noVNC: {error}") from None


def webdriver_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def viewer_urls(host: str, vnc_port: int, novnc_port: int) -> tuple[str, str]:
    """Where a person watches a headed browser: a VNC client, or noVNC in a web browser."""
    return f"vnc://{host}:{vnc_port}", f"http://{host}:{novnc_port}/vnc.html"


class Browser(Service):
    """Started on demand, the first time a test asks for a browser (no role)."""

    name = NAME
    port = PORT
    registry_image = "selenium/standalone-chromium:latest"

    def credentials(self) -> dict[str, str]:
        return {"vnc_password": secrets.token_hex(4)}  # VNC uses at most 8 characters

    def spec(
        self,
        image: str,
        credentials: Mapping[str, str],
        startup_timeout: float,
        slices: Sequence[Slice],
        headed: bool = False,
    ) -> ServiceSpec:
        return browser_spec(image, startup_timeout, headed, credentials.get("vnc_password", ""))


SERVICE = Browser()
