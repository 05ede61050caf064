"""Readiness probes: each speaks its service's protocol and makes one attempt per call.

A probe is a small frozen object with one method, ``attempt``, which returns
when the service is ready and raises :class:`NotReadyYet` (or ``OSError``) when
it is not yet; :func:`orchestrator.waiting.wait_until_ready` repeats it every few
tens of milliseconds, bounded, and gives up early if the container exits.
``str(probe)`` says what is awaited, for error messages.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# How long one attempt may block; the waiting loop owns the overall bound.
ATTEMPT_TIMEOUT = 1.0

# (service, container port) -> (host, published port)
Locate = Callable[[str, int], tuple[str, int]]


class NotReadyYet(Exception):
    """One attempt did not find the service ready; try again."""


class Probe(Protocol):
    def attempt(self, locate: Locate) -> None: ...


def _resp_command(*words: str) -> bytes:
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@dataclass(frozen=True)
class RedisPing:
    """Redis answers ``PING`` with ``+PONG`` after ``AUTH`` with the stack's password."""

    service: str
    password: str
    port: int = 6379

    def __str__(self) -> str:
        return f"Redis AUTH + PING on {self.service}:{self.port}"

    def attempt(self, locate: Locate) -> None:
        with socket.create_connection(locate(self.service, self.port), ATTEMPT_TIMEOUT) as sock:
            sock.sendall(_resp_command("AUTH", self.password) + _resp_command("PING"))
            replies = b""
            while replies.count(b"\r\n") < 2:
                chunk = sock.recv(256)
                if not chunk:
                    raise NotReadyYet("connection closed")
                replies += chunk
        auth, pong = replies.split(b"\r\n")[:2]
        if auth != b"+OK" or pong != b"+PONG":
            raise NotReadyYet(f"unexpected replies {auth!r}, {pong!r}")


@dataclass(frozen=True)
class AmqpLogin:
    """An AMQP 0-9-1 handshake completes: protocol header, login, and the vhost opens."""

    service: str
    user: str
    password: str
    vhost: str
    port: int = 5672

    def __str__(self) -> str:
        return f"AMQP handshake and login to vhost {self.vhost!r} on {self.service}:{self.port}"

    def attempt(self, locate: Locate) -> None:
        import amqp

        host, port = locate(self.service, self.port)
        connection = amqp.Connection(
            f"{host}:{port}",
            userid=self.user,
            password=self.password,
            virtual_host=self.vhost,
            connect_timeout=ATTEMPT_TIMEOUT,
        )
        try:
            connection.connect()
        except (amqp.exceptions.AMQPError, ConnectionError) as error:
            raise NotReadyYet(str(error)) from None
        finally:
            connection.collect()


@dataclass(frozen=True)
class WebDriverStatus:
    """The WebDriver endpoint's ``GET /status`` reports ``ready: true``."""

    service: str
    port: int = 4444

    def __str__(self) -> str:
        return f"WebDriver GET /status ready on {self.service}:{self.port}"

    def attempt(self, locate: Locate) -> None:
        host, port = locate(self.service, self.port)
        try:
            with urllib.request.urlopen(
                f"http://{host}:{port}/status", timeout=ATTEMPT_TIMEOUT
            ) as reply:
                status = json.load(reply)
        except (urllib.error.URLError, ValueError) as error:
            raise NotReadyYet(str(error)) from None
        if not status.get("value", {}).get("ready"):
            raise NotReadyYet(f"status says not ready: {status}")


# Celery builds its top-level names lazily; probes of two workers importing it at once
# from their threads can see a half-made module (ImportError), so the first import is
# done under a lock.
_CELERY_IMPORT = threading.Lock()


@dataclass(frozen=True)
class CeleryPing:
    """The worker answers a ``ping`` sent through Celery's control API over the broker."""

    service: str
    destination: str
    broker_url: Callable[[Locate], str]

    def __str__(self) -> str:
        return f"Celery control ping of {self.destination} via the broker"

    def attempt(self, locate: Locate) -> None:
        import amqp
        from kombu.exceptions import OperationalError

        with _CELERY_IMPORT:
            from celery import Celery

        app = Celery("stackyard-probe", broker=self.broker_url(locate), set_as_current=False)
        app.conf.broker_connection_retry_on_startup = False
        app.conf.broker_connection_timeout = ATTEMPT_TIMEOUT
        connection = app.connection_for_write()
        # The transport's own (redis-py's on a Redis broker), and kombu's pool closed under
        # this attempt: the process's tests reset kombu's pools while a worker boots.
        transient = (
            amqp.exceptions.AMQPError,
            OperationalError,
            OSError,
            RuntimeError,
            *connection.connection_errors,
            *connection.channel_errors,
        )
        try:
            # Returns as soon as the destination answers; the timeout only bounds a miss.
            replies = app.control.ping(
                destination=[self.destination], timeout=0.2, connection=connection
            )
        except transient as error:
            # e.g. the worker's vhost is created a moment after the broker is up
            raise NotReadyYet(f"{type(error).__name__}: {error}") from None
        finally:
            connection.release()
            app.close()
        if not any(self.destination in reply for reply in replies):
            raise NotReadyYet(f"no pong from {self.destination}")
