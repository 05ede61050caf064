"""The network guard blocks INET connections, records them, and undoes itself."""

import asyncio
import socket
from collections.abc import Iterator

import pytest

from fixtures.netguard import NetworkAccessBlocked, NetworkGuard
from fixtures.plugin import guard_key


@pytest.fixture
def listener() -> Iterator[tuple[str, int]]:
    """A real TCP server on loopback, so an unguarded connect would succeed."""
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()
    finally:
        server.close()


@pytest.fixture
def unguarded(request: pytest.FixtureRequest) -> Iterator[None]:
    """Lift the plugin's guard around this test, so it sees only the guard it installs."""
    plugin_guard = request.node.stash.get(guard_key, None)
    if plugin_guard is not None:
        plugin_guard.uninstall()
    try:
        yield
    finally:
        if plugin_guard is not None:
            plugin_guard.install()


def test_connect_to_a_listening_server_is_blocked_and_recorded(unguarded, listener):
    with (
        NetworkGuard("mark it integration") as guard,
        pytest.raises(NetworkAccessBlocked, match="mark it integration"),
    ):
        socket.create_connection(listener, timeout=1)

    assert guard.attempts == [f"connect to {listener!r}"]


def test_after_uninstall_the_same_connection_succeeds(unguarded, listener):
    with NetworkGuard("hint"), pytest.raises(NetworkAccessBlocked):
        socket.create_connection(listener, timeout=1)

    with socket.create_connection(listener, timeout=1) as connection:
        assert connection.getpeername() == listener


def test_connect_ex_and_sendto_are_blocked(unguarded, listener):
    with NetworkGuard("hint") as guard:
        with socket.socket() as tcp, pytest.raises(NetworkAccessBlocked):
            tcp.connect_ex(listener)
        with socket.socket(type=socket.SOCK_DGRAM) as udp, pytest.raises(NetworkAccessBlocked):
            udp.sendto(b"x", ("127.0.0.1", 9))

    assert [attempt.split()[0] for attempt in guard.attempts] == ["connect_ex", "sendto"]


def test_asyncio_connections_are_blocked(unguarded, listener):
    async def open_connection() -> None:
        await asyncio.wait_for(asyncio.open_connection(*listener), timeout=1)

    with NetworkGuard("hint"), pytest.raises(NetworkAccessBlocked):
        asyncio.run(open_connection())


def test_local_socket_pairs_are_allowed(unguarded):
    with NetworkGuard("hint") as guard:
        left, right = socket.socketpair()
        with left, right:
            left.sendall(b"ping")
            assert right.recv(4) == b"ping"

    assert guard.attempts == []


def test_uninstall_restores_the_original_methods(unguarded):
    before = socket.socket.connect

    with NetworkGuard("hint"):
        assert socket.socket.connect is not before

    assert socket.socket.connect is before
