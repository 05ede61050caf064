"""A Chromium browser behind a W3C WebDriver endpoint on port 4444.

docker/browser runs Debian's chromedriver; selenium/standalone-chromium offers
the same endpoint. The container reaches servers on the host as
``host.docker.internal``.
"""

from __future__ import annotations

from orchestrator.probes import WebDriverStatus
from orchestrator.spec import ServiceSpec

NAME = "browser"
PORT = 4444
HOST_ALIAS = "host.docker.internal"


def browser_spec(image: str, startup_timeout: float) -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        image=image,
        ports=(PORT,),
        probe=WebDriverStatus(NAME, PORT),
        # Chromium uses /dev/shm for rendering; Docker's default 64 MB crashes tabs.
        options={"shm_size": "512m", "extra_hosts": {HOST_ALIAS: "host-gateway"}},
        startup_timeout=startup_timeout,
        hint="the image must serve W3C WebDriver on port 4444 (like selenium/standalone-chromium)",
    )


def webdriver_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"
