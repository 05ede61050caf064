"""The network guard blocks INET connections, records them, and undoes itself;
its allowlist lets chosen destinations through."""

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from fixtures.netguard import Allowlist, Destination, NetworkAccessBlocked, NetworkGuard
from fixtures.plugin import guard_key
from orchestrator import THREAD_PREFIX


def _listening() -> Iterator[tuple[str, int]]:
    """A real TCP server on loopback, so an unguarded connect would succeed."""
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()
    finally:
        server.close()


listener = pytest.fixture(_listening, name="listener")
other_listener = pytest.fixture(_listening, name="other_listener")


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


@pytest.mark.parametrize(
    ("entry", "host", "port"),
    [
        ("127.0.0.1:5432", "127.0.0.1", 5432),
        ("localhost:6379", "localhost", 6379),
        ("[::1]:5432", "::1", 5432),
        ("localhost", "localhost", None),
        ("127.0.0.1", "127.0.0.1", None),
        ("[::1]", "::1", None),
        ("::1", "::1", None),
        (" DB.internal:5432 ", "db.internal", 5432),
        ("db_1:65535", "db_1", 65535),
    ],
)
def test_destinations_parse(entry, host, port):
    assert Destination.parse(entry) == Destination(host, port)


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("", "'' is not a host name or address"),
        (":5432", "'' is not a host name or address"),
        ("localhost:", "the port is missing"),
        ("localhost:0", "'0' is not a port"),
        ("localhost:65536", "'65536' is not a port"),
        ("localhost:abc", "'abc' is not a port"),
        ("localhost:5432:1", "'5432:1' is not a port"),
        ("[localhost]:5432", "'localhost' is not an IPv6 address"),
        ("[127.0.0.1]:5432", "'127.0.0.1' is not an IPv6 address"),
        ("[::1]:", "brackets hold an IPv6 address, with a port after them"),
        ("http://localhost:5432", "'//localhost:5432' is not a port"),
        ("local host", "'local host' is not a host name"),
        ("*:5432", "'\\*' is not a host name"),
    ],
)
def test_malformed_destinations_are_refused(entry, reason):
    with pytest.raises(ValueError, match=reason):
        Destination.parse(entry)


def test_an_allowed_loopback_port_connects_while_another_port_stays_blocked(
    unguarded, listener, other_listener
):
    allow = Allowlist([Destination.parse(f"127.0.0.1:{listener[1]}")])

    with NetworkGuard("hint", allow) as guard:
        with socket.create_connection(listener, timeout=1) as connection:
            assert connection.getpeername() == listener
        with pytest.raises(NetworkAccessBlocked):
            socket.create_connection(other_listener, timeout=1)

    assert guard.attempts == [f"connect to {other_listener!r}"]


def test_a_host_name_allows_the_addresses_it_resolves_to(unguarded, listener):
    allow = Allowlist([Destination.parse(f"localhost:{listener[1]}")])

    with NetworkGuard("hint", allow) as guard, socket.create_connection(listener, timeout=1):
        pass

    assert guard.attempts == []


def test_a_bare_host_allows_every_port_of_that_host_only(unguarded, listener, other_listener):
    allow = Allowlist([Destination.parse("127.0.0.1")])

    with NetworkGuard("hint", allow) as guard:
        for address in (listener, other_listener):
            socket.create_connection(address, timeout=1).close()
        with socket.socket(type=socket.SOCK_DGRAM) as udp, pytest.raises(NetworkAccessBlocked):
            udp.sendto(b"x", ("127.0.0.2", listener[1]))

    assert guard.attempts == [f"sendto to {('127.0.0.2', listener[1])!r}"]


def test_an_ipv6_loopback_destination(unguarded):
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with server:
        port = server.getsockname()[1]
        allow = Allowlist([Destination.parse(f"[::1]:{port}")])
        with NetworkGuard("hint", allow) as guard:
            socket.create_connection(("::1", port), timeout=1).close()
            with pytest.raises(NetworkAccessBlocked):
                socket.create_connection(("127.0.0.1", port), timeout=1)

    assert len(guard.attempts) == 1


def _connect_in_thread(name: str, address: tuple[str, int]) -> str:
    outcome: list[str] = []

    def connect() -> None:
        try:
            with socket.create_connection(address, timeout=1):
                outcome.append("connected")
        except NetworkAccessBlocked:
            outcome.append("blocked")

    thread = threading.Thread(target=connect, name=name)
    thread.start()
    thread.join(5)
    return outcome[0]


def test_stackyards_own_threads_pass_while_a_guarded_test_runs(unguarded, listener):
    # A stack starting in the background (its probes) while fast tests run in the
    # same process: its traffic is not the test's.
    with NetworkGuard("hint") as guard:
        assert _connect_in_thread(f"{THREAD_PREFIX}-provision", listener) == "connected"
        assert _connect_in_thread("a-test-thread", listener) == "blocked"

    assert guard.attempts == [f"connect to {listener!r}"]
