"""The PostgreSQL probe's wire protocol without a server: SCRAM-SHA-256 against RFC 7677's
example, SASLprep, and logins and queries against scripted servers on loopback."""

import hashlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from fixtures.plugin import guard_key
from orchestrator.probes import NotReadyYet
from orchestrator.services.postgres import (
    PostgresError,
    PostgresLogin,
    ScramSha256,
    _saslprep,
    postgres_command,
    postgres_url,
    run_sql,
)

# RFC 7677, section 3: user "user", password "pencil".
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
SERVER_FIRST = (
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
CLIENT_FINAL = (
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_messages_match_the_rfc_7677_example():
    scram = ScramSha256("pencil", user="user", nonce=CLIENT_NONCE)

    assert scram.client_first() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert scram.client_final(SERVER_FIRST) == CLIENT_FINAL
    scram.verify_server_final(SERVER_FINAL)


def test_scram_refuses_a_server_that_does_not_know_the_password():
    scram = ScramSha256("not-pencil", user="user", nonce=CLIENT_NONCE)
    scram.client_final(SERVER_FIRST)

    with pytest.raises(PostgresError, match="signature does not match"):
        scram.verify_server_final(SERVER_FINAL)


def test_scram_reports_the_servers_error_and_a_nonce_it_did_not_extend():
    scram = ScramSha256("pencil", nonce=CLIENT_NONCE)

    with pytest.raises(PostgresError, match="nonce"):
        scram.client_final("r=someone-elses-nonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    with pytest.raises(PostgresError, match="invalid-proof"):
        scram.verify_server_final("e=invalid-proof")


@pytest.mark.parametrize(
    ("password", "prepared"),
    [
        ("pencil", b"pencil"),
        ("I\u00adX", b"IX"),  # RFC 4013's examples: a soft hyphen maps to nothing,
        ("\u2168", b"IX"),  # and NFKC turns the Roman numeral nine into two letters
        ("caf\u00e9\u2003bar", "caf\u00e9 bar".encode()),  # an em space is a space
        ("\u00e9\u0007", "\u00e9\u0007".encode()),  # a control character: left as it is
    ],
)
def test_saslprep_as_the_server_applies_it(password, prepared):
    assert _saslprep(password) == prepared


def test_the_probe_never_shows_the_password():
    probe = PostgresLogin("postgres", "app", "s3cret-pw", "app_db")

    assert "s3cret-pw" not in str(probe)
    assert "s3cret-pw" not in repr(probe)
    assert "app_db" in str(probe)


def test_command_and_url():
    command = postgres_command()

    assert command[0] == "postgres"
    assert command[1::2] == ("-c",) * (len(command) // 2)
    assert "fsync=off" in command
    assert postgres_url("127.0.0.1", 40432, "u@x", "p/w:1", "my db") == (
        "postgresql://u%40x:p%2Fw%3A1@127.0.0.1:40432/my%20db"
    )


# Scripted servers on loopback.


@pytest.fixture
def loopback(request):
    """The plugin's network guard is lifted: these tests talk to their own servers."""
    guard = request.node.stash.get(guard_key, None)
    if guard is not None:
        guard.uninstall()
    try:
        yield
    finally:
        if guard is not None:
            guard.install()


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def receive(connection: socket.socket, typed: bool = True) -> tuple[bytes, bytes]:
    """One message from the client (the start-up message has no type byte)."""
    kind = _read_exactly(connection, 1) if typed else b""
    length = int.from_bytes(_read_exactly(connection, 4), "big")
    return kind, _read_exactly(connection, length - 4)


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + (len(body) + 4).to_bytes(4, "big") + body


def error_response(code: str, text: str) -> bytes:
    return message(b"E", f"SFATAL\0C{code}\0M{text}\0\0".encode())


LOGIN_DONE = (
    message(b"R", (0).to_bytes(4, "big"))
    + message(b"S", b"server_version\x0016.0\0")
    + message(b"K", bytes(8))
    + message(b"Z", b"I")
)


class Seen(list):
    """What a server script recorded; ``wait()`` until its last message is in."""

    thread: threading.Thread

    def wait(self) -> "Seen":
        self.thread.join(5)
        return self


@pytest.fixture
def server(loopback) -> Iterator[Callable[..., tuple[tuple[str, int], list[object]]]]:
    """``server(script)``: a server that runs ``script(connection, seen)`` in a thread for
    one connection; returns its address and ``seen``, what the script recorded."""
    listeners: list[tuple[socket.socket, threading.Thread]] = []

    def start(script: Callable[[socket.socket, list[object]], None]):
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(5)
        seen = Seen()

        def serve() -> None:
            try:
                connection, _ = listener.accept()
                with connection:
                    connection.settimeout(5)
                    script(connection, seen)
            except OSError as error:  # the test failed before or while talking to it
                seen.append(error)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        seen.thread = thread
        listeners.append((listener, thread))
        return listener.getsockname()[:2], seen

    yield start
    for listener, thread in listeners:
        thread.join(5)
        listener.close()


def at(address: tuple[str, int]) -> Callable[[str, int], tuple[str, int]]:
    return lambda service, port: address


def test_a_server_that_hangs_up_at_once_is_not_ready(server):
    address, _ = server(lambda connection, seen: None)
    probe = PostgresLogin("postgres", "app", "pw", "app")

    with pytest.raises((NotReadyYet, OSError)):
        probe.attempt(at(address))


def test_the_servers_error_says_why_it_is_not_ready(server):
    def starting_up(connection, seen):
        seen.append(receive(connection, typed=False))
        connection.sendall(error_response("57P03", "the database system is starting up"))

    address, _ = server(starting_up)
    probe = PostgresLogin("postgres", "app", "pw", "app")

    with pytest.raises(NotReadyYet, match="FATAL: the database system is starting up"):
        probe.attempt(at(address))


@pytest.mark.parametrize(
    ("request_body", "expected_password"),
    [
        # MD5: md5(md5(password + user), in hex, + salt), in hex, after "md5".
        (
            (5).to_bytes(4, "big") + b"salt",
            b"md5"
            + hashlib.md5(hashlib.md5(b"pwapp").hexdigest().encode() + b"salt")
            .hexdigest()
            .encode(),
        ),
        ((3).to_bytes(4, "big"), b"pw"),  # cleartext
    ],
    ids=["md5", "cleartext"],
)
def test_a_login_answers_the_servers_request_and_ends_with_terminate(
    server, request_body, expected_password
):
    def login(connection, seen):
        _, startup = receive(connection, typed=False)
        seen.append(startup)
        connection.sendall(message(b"R", request_body))
        seen.append(receive(connection))
        connection.sendall(LOGIN_DONE)
        seen.append(receive(connection))

    address, seen = server(login)

    PostgresLogin("postgres", "app", "pw", "app_db").attempt(at(address))

    startup, password, terminate = seen.wait()  # the Terminate may still be in flight
    assert isinstance(startup, bytes)
    assert startup[:4] == (3 << 16).to_bytes(4, "big")
    assert b"\0user\0app\0database\0app_db\0" in b"\0" + startup[4:]
    assert password == (b"p", expected_password + b"\0")
    assert terminate == (b"X", b"")


def test_run_sql_waits_for_the_query_and_raises_the_servers_error(server):
    def trusting(connection, seen):
        receive(connection, typed=False)
        connection.sendall(LOGIN_DONE)
        seen.append(receive(connection))
        connection.sendall(
            error_response("42P04", 'database "app_gw0" already exists') + message(b"Z", b"I")
        )
        seen.append(receive(connection))

    address, seen = server(trusting)

    with pytest.raises(RuntimeError, match='database "app_gw0" already exists') as raised:
        run_sql(address, "app", "pw", "app", "CREATE DATABASE app_gw0")

    assert seen.wait()[0] == (b"Q", b"CREATE DATABASE app_gw0\0")
    assert isinstance(raised.value, PostgresError)
    assert raised.value.code == "42P04"


def test_run_sql_returns_once_the_server_is_ready_again(server):
    def trusting(connection, seen):
        receive(connection, typed=False)
        connection.sendall(LOGIN_DONE)
        seen.append(receive(connection))
        connection.sendall(message(b"C", b"DROP DATABASE\0") + message(b"Z", b"I"))
        seen.append(receive(connection))

    address, seen = server(trusting)

    run_sql(address, "app", "pw", "app", "DROP DATABASE app_gw0")

    assert seen.wait() == [(b"Q", b"DROP DATABASE app_gw0\0"), (b"X", b"")]
