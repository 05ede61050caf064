"""PostgreSQL: the project's database.

The interface is the official image's: the superuser, its password and the first
database come from ``POSTGRES_USER`` / ``_PASSWORD`` / ``_DB``, and the command line
is the server's, so the official image works as well as docker/postgres. The server
is a throwaway: :data:`SERVER_SETTINGS` turn its durability off.

Readiness is a login. Both images set the database up with no TCP listener, so the
first login over TCP reaches the final server, with its user, password and database
in place. :class:`PostgresLogin` makes one: it speaks the server's wire protocol
(version 3) with the standard library only, through the start-up message, the
authentication (SCRAM-SHA-256, MD5 or a cleartext password) and up to
ReadyForQuery. :func:`run_sql` logs in the same way and runs statements, e.g.
``CREATE DATABASE``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import socket
import stringprep
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import quote

from orchestrator.errors import OrchestratorError
from orchestrator.probes import ATTEMPT_TIMEOUT, Locate, NotReadyYet
from orchestrator.services.base import Exec, Server, Service, Slice
from orchestrator.spec import ServiceSpec

NAME = "postgres"
PORT = 5432
REGISTRY_IMAGE = "postgres:16"

# The server of a test run holds nothing worth keeping past the machine's life.
SERVER_SETTINGS = (
    # No flushes to disk at commit or checkpoint, no full page images in the write-ahead
    # log: commits cost a write to the kernel's cache. Only the machine's crash can lose
    # them. synchronous_commit stays on: off, a commit returns before its log record
    # reaches the kernel, and a server SIGKILLed (stack_faults.kill) forgets the rows of
    # the last fraction of a second, which a test committed and goes on to use.
    "fsync=off",
    "full_page_writes=off",
    # 100 by default; each test process, Celery worker thread and Channels consumer may
    # hold one, times the xdist workers. A free slot costs ~50 kB of shared memory.
    "max_connections=200",
    # Compiling a query pays off only for long analytic ones; a test suite's are short,
    # and the planner's estimate on a test's tiny tables can still cross the threshold.
    "jit=off",
)

# What every server has, and the engine's own sessions open.
MAINTENANCE_DATABASE = "postgres"
DUPLICATE_DATABASE = "42P04"  # the SQLSTATE of CREATE DATABASE for a name that exists
# How long run_sql waits for any one reply (CREATE DATABASE copies a template).
SQL_TIMEOUT = 30.0
# Version 3.0 of the protocol, in the start-up message.
_PROTOCOL_VERSION = 3 << 16
# Larger "messages" mean the other end is not a PostgreSQL server.
_MAX_MESSAGE = 1 << 24


def postgres_command() -> tuple[str, ...]:
    """The server's command line: ``postgres -c fsync=off -c ...``."""
    command = ["postgres"]
    for setting in SERVER_SETTINGS:
        command += ["-c", setting]
    return tuple(command)


def postgres_url(host: str, port: int, user: str, password: str, database: str) -> str:
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    if ":" in host:
        host = f"[{host}]"
    return f"postgresql://{credentials}@{host}:{port}/{quote(database, safe='')}"


class PostgresError(RuntimeError):
    """The server reported an error (``ErrorResponse``) or broke the protocol.

    ``str()`` is the server's severity and message; ``code`` is the SQLSTATE
    (``57P03``: starting up, ``28P01``: wrong password, ``42P04``: the database
    exists...), empty when the error is the client's finding.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def from_fields(cls, body: bytes) -> PostgresError:
        """Read an ``ErrorResponse``: fields of one type byte and a string each."""
        fields = {
            chr(item[0]): item[1:].decode(errors="replace") for item in body.split(b"\0") if item
        }
        message = fields.get("M", "(no message)")
        if "S" in fields:
            message = f"{fields['S']}: {message}"
        return cls(message, fields.get("C", ""))


def _saslprep(password: str) -> bytes:
    """The password as the server hashes it for SCRAM: prepared with SASLprep (RFC 4013)
    when it can be, else as it is (the server does the same; ASCII is left alone)."""
    if password.isascii():
        return password.encode()
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in password
        if not stringprep.in_table_b1(char)
    )
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_a1,  # unassigned in Unicode 3.2
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    )
    if not prepared or any(test(char) for char in prepared for test in prohibited):
        return password.encode()
    # Right-to-left text: no left-to-right character, and it starts and ends with one.
    if any(stringprep.in_table_d1(char) for char in prepared) and (
        any(stringprep.in_table_d2(char) for char in prepared)
        or not stringprep.in_table_d1(prepared[0])
        or not stringprep.in_table_d1(prepared[-1])
    ):
        return password.encode()
    return prepared.encode()


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


class ScramSha256:
    """The client's side of SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding.

    Three steps: :meth:`client_first`, then :meth:`client_final` from the server's
    first message, then :meth:`verify_server_final` of the server's last one. The
    server takes the user from the start-up message and ignores the one here, hence
    the empty default; the nonce is random unless given (for tests).
    """

    def __init__(self, password: str, user: str = "", nonce: str | None = None) -> None:
        self._password = _saslprep(password)
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        name = user.replace("=", "=3D").replace(",", "=2C")
        self._first_bare = f"n={name},r={self.nonce}"
        self._server_signature = b""

    def client_first(self) -> str:
        # "n,,": the client does not support channel binding; no authorization identity.
        return f"n,,{self._first_bare}"

    def client_final(self, server_first: str) -> str:
        attributes = _scram_attributes(server_first)
        try:
            nonce, salt, iterations = (
                attributes["r"],
                base64.b64decode(attributes["s"], validate=True),
                int(attributes["i"]),
            )
        except (KeyError, ValueError) as error:
            raise PostgresError(f"malformed SCRAM server-first message: {error}") from None
        if not nonce.startswith(self.nonce) or nonce == self.nonce:
            raise PostgresError("the server's SCRAM nonce does not extend the client's")
        salted = hashlib.pbkdf2_hmac("sha256", self._password, salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        # "biws" is base64 of "n,,", the header of the first message.
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._first_bare},{server_first},{without_proof}".encode()
        signature = _hmac(stored_key, auth_message)
        proof = bytes(key ^ sign for key, sign in zip(client_key, signature, strict=True))
        self._server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}"

    def verify_server_final(self, server_final: str) -> None:
        """The server proves it knows the password too (or reports a SCRAM error)."""
        attributes = _scram_attributes(server_final)
        if "e" in attributes:
            raise PostgresError(f"SCRAM authentication failed: {attributes['e']}")
        try:
            signature = base64.b64decode(attributes["v"], validate=True)
        except (KeyError, ValueError):
            raise PostgresError("malformed SCRAM server-final message") from None
        if not self._server_signature or not hmac.compare_digest(signature, self._server_signature):
            raise PostgresError("the server's SCRAM signature does not match the password")


def _scram_attributes(message: str) -> dict[str, str]:
    """``r=abc,s=ZGVm,i=4096`` -> ``{"r": "abc", ...}`` (values may hold "=")."""
    return {item[0]: item[2:] for item in message.split(",") if len(item) >= 2 and item[1] == "="}


class _Wire:
    """Messages over one connection: a type byte, a length (itself included), a body."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, kind: bytes, body: bytes) -> None:
        self._sock.sendall(kind + (len(body) + 4).to_bytes(4, "big") + body)

    def _read(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self._sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return bytes(data)

    def receive(self) -> tuple[bytes, bytes]:
        header = self._read(5)
        kind, length = header[:1], int.from_bytes(header[1:], "big")
        if not 4 <= length <= _MAX_MESSAGE:
            raise PostgresError(f"implausible message {header!r}: not a PostgreSQL server?")
        return kind, self._read(length - 4)

    def login(self, user: str, password: str, database: str) -> None:
        """Start a session, authenticate, and return at the first ReadyForQuery."""
        parameters = {"user": user, "database": database, "application_name": "stackyard"}
        body = _PROTOCOL_VERSION.to_bytes(4, "big")
        body += b"".join(f"{key}\0{value}\0".encode() for key, value in parameters.items())
        body += b"\0"
        # The start-up message alone has no type byte.
        self._sock.sendall((len(body) + 4).to_bytes(4, "big") + body)
        scram: ScramSha256 | None = None
        while True:
            kind, body = self.receive()
            if kind == b"E":
                raise PostgresError.from_fields(body)
            if kind == b"Z":
                return
            if kind == b"R":
                scram = self._authenticate(body, user, password, scram)
            # Anything else (parameter values, the cancel key, notices) is of no use here.

    def _authenticate(
        self, body: bytes, user: str, password: str, scram: ScramSha256 | None
    ) -> ScramSha256 | None:
        """Answer one authentication request; return the SCRAM exchange under way."""
        request, data = int.from_bytes(body[:4], "big"), body[4:]
        if request == 0:  # AuthenticationOk
            return None
        if request == 3:  # cleartext password
            self.send(b"p", password.encode() + b"\0")
            return None
        if request == 5:  # MD5: md5(md5(password + user) + salt), in hex
            inner = hashlib.md5(password.encode() + user.encode()).hexdigest().encode()
            self.send(b"p", b"md5" + hashlib.md5(inner + data[:4]).hexdigest().encode() + b"\0")
            return None
        if request == 10:  # SASL: the server lists its mechanisms
            mechanisms = data.split(b"\0")
            if b"SCRAM-SHA-256" not in mechanisms:
                raise PostgresError(f"no SASL mechanism this client speaks in {mechanisms!r}")
            scram = ScramSha256(password)
            first = scram.client_first().encode()
            self.send(b"p", b"SCRAM-SHA-256\0" + len(first).to_bytes(4, "big") + first)
            return scram
        if request == 11 and scram is not None:  # SASL continue: the server-first message
            self.send(b"p", scram.client_final(data.decode()).encode())
            return scram
        if request == 12 and scram is not None:  # SASL final: the server's signature
            scram.verify_server_final(data.decode())
            return None
        raise PostgresError(f"unsupported authentication request {request}")

    def query(self, sql: str) -> None:
        """Run ``sql`` (a simple query: one or more statements) and wait until it is done."""
        self.send(b"Q", sql.encode() + b"\0")
        error: PostgresError | None = None
        while True:
            kind, body = self.receive()
            if kind == b"E" and error is None:
                error = PostgresError.from_fields(body)
            elif kind == b"G":  # COPY ... FROM STDIN: there is nothing to send
                self.send(b"f", b"run_sql sends no COPY data\0")
            elif kind == b"Z":
                break
        if error is not None:
            raise error


@contextmanager
def _session(
    address: tuple[str, int], user: str, password: str, database: str, timeout: float
) -> Iterator[_Wire]:
    """A logged-in connection; it is ended with a Terminate message."""
    with socket.create_connection(address, timeout) as sock:
        wire = _Wire(sock)
        wire.login(user, password, database)
        yield wire
        wire.send(b"X", b"")


@dataclass(frozen=True)
class PostgresLogin:
    """A login over TCP completes: authentication, then the session is ready for queries."""

    service: str
    user: str
    password: str = field(repr=False)
    database: str
    port: int = PORT

    def __str__(self) -> str:
        return (
            f"PostgreSQL login as {self.user!r} to database {self.database!r} "
            f"on {self.service}:{self.port}"
        )

    def attempt(self, locate: Locate) -> None:
        address = locate(self.service, self.port)
        try:
            with _session(address, self.user, self.password, self.database, ATTEMPT_TIMEOUT):
                pass
        except PostgresError as error:
            # e.g. "FATAL: the database system is starting up"
            raise NotReadyYet(str(error)) from None


def run_sql(
    address: tuple[str, int],
    user: str,
    password: str,
    database: str,
    sql: str,
    timeout: float = SQL_TIMEOUT,
) -> None:
    """Log in and run ``sql`` (statements whose results are not wanted), until it is done.

    Raises :class:`PostgresError` (a ``RuntimeError``) with the server's message, and
    ``OSError`` when the connection fails. Statements that may not run in a
    transaction block (``CREATE DATABASE``) must come one per call.
    """
    with _session(address, user, password, database, timeout) as wire:
        wire.query(sql)


def slice_database_name(slice_: Slice) -> str:
    """The slice's test database: pytest-django's name for it (``_gw0`` under xdist)."""
    return "test_stackyard" if slice_.name == "main" else f"test_stackyard_{slice_.name}"


def spare_database_name(slice_: Slice) -> str:
    """A copy of template1 made ahead of time on a kept stack's server, which the slice's
    next test database is renamed from: renaming takes milliseconds, where CREATE
    DATABASE copies template1 (0.26 s here, on the container's copy-on-write layer)."""
    return f"spare_{slice_database_name(slice_)}"


def make_spare_database(server: Server, slice_: Slice) -> bool:
    """Make the slice's spare (one that exists is kept); return whether there is one.
    The engine's errors are not raised: without a spare, the test database is created
    as Django creates it."""
    statement = f'CREATE DATABASE "{spare_database_name(slice_)}"'
    address = (server.host, server.port)
    try:
        run_sql(address, server.user, server.password, MAINTENANCE_DATABASE, statement)
    except PostgresError as error:
        return error.code == DUPLICATE_DATABASE
    except OSError:
        return False
    return True


class Postgres(Service):
    """Each slice's test database is made (and dropped) by pytest-django in the test
    process; the worker containers use it by the server's network alias. Nothing to
    reset between tests: that is pytest-django's transaction or flush."""

    name = NAME
    port = PORT
    registry_image = REGISTRY_IMAGE
    roles = ("database",)
    schemes = ("postgres", "postgresql")

    def credentials(self) -> dict[str, str]:
        return {"user": "stackyard", "password": secrets.token_urlsafe(24), "db": "stackyard"}

    def spec(
        self,
        image: str,
        credentials: Mapping[str, str],
        startup_timeout: float,
        slices: Sequence[Slice],
    ) -> ServiceSpec:
        user, password, database = credentials["user"], credentials["password"], credentials["db"]
        return ServiceSpec(
            name=NAME,
            image=image,
            command=postgres_command(),
            env={"POSTGRES_USER": user, "POSTGRES_PASSWORD": password, "POSTGRES_DB": database},
            ports=(PORT,),
            probe=PostgresLogin(NAME, user, password, database, PORT),
            startup_timeout=startup_timeout,
            hint="the image must honour POSTGRES_USER/_PASSWORD/_DB and take the server's "
            "command line, like the official postgres image",
        )

    def url(self, role: str, server: Server, slice_: Slice) -> str:
        return postgres_url(
            server.host, server.port, server.user, server.password, slice_database_name(slice_)
        )

    def provision(self, server: Server, slices: Sequence[Slice], run: Exec | None) -> None:
        """An existing server must let the URL's user in (and create databases, which
        pytest-django does for each slice)."""
        if server.managed:
            return
        database = server.path or MAINTENANCE_DATABASE
        try:
            with _session(
                (server.host, server.port), server.user, server.password, database, SQL_TIMEOUT
            ):
                pass
        except (PostgresError, OSError) as error:
            raise OrchestratorError(
                f"the PostgreSQL server {server.host}:{server.port} does not let "
                f"{server.user!r} into database {database!r}: {error}; check the database "
                "role's URL (the user needs CREATEDB: pytest-django creates each test "
                "process's test database)"
            ) from None


SERVICE = Postgres()
