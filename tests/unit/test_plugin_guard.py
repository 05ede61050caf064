"""The plugin puts every non-integration test behind the network guard, which
its ini options switch off or open to chosen destinations.

These run pytest in a subprocess: the outer test is itself guarded, and the
inner session must patch a clean ``socket`` module of its own.
"""

import socket
from collections.abc import Iterator

import pytest

INNER_ARGS = ("-p", "no:django", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:asyncio")


@pytest.fixture(autouse=True)
def _declared_project(pytester):
    """The guard is on in projects that use stackyard (declare [tool.orchestrator])."""
    (pytester.path / "pyproject.toml").write_text("[tool.orchestrator]\n")


def _listening_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def port() -> Iterator[int]:
    yield from _listening_port()


@pytest.fixture
def other_port() -> Iterator[int]:
    yield from _listening_port()


# The inner tests read the ports from the environment the outer test sets.
ALLOWED_AND_OTHER = """
import os
import socket


def test_reaches_the_allowed_database_port():
    socket.create_connection(("127.0.0.1", int(os.environ["ALLOWED_PORT"])), timeout=1).close()


def test_another_port_is_still_blocked():
    socket.create_connection(("127.0.0.1", int(os.environ["OTHER_PORT"])), timeout=1).close()
"""


def test_fast_test_that_connects_fails_naming_the_marker(pytester, port):
    pytester.makepyfile(
        f"""
        import socket

        def test_talks_to_redis():
            socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        """
    )

    result = pytester.runpytest_subprocess(*INNER_ARGS)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NetworkAccessBlocked*@pytest.mark.integration*"])


def test_fast_test_that_swallows_the_error_still_fails(pytester, port):
    pytester.makepyfile(
        f"""
        import socket

        def test_hides_the_failure():
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
            except Exception:
                pass
        """
    )

    result = pytester.runpytest_subprocess(*INNER_ARGS)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*passed, but tried to reach the network*swallowed*"])


def test_integration_test_may_connect(pytester, port):
    pytester.makepyfile(
        f"""
        import socket
        import pytest

        @pytest.mark.integration
        def test_talks_to_a_real_service():
            socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
        """
    )

    result = pytester.runpytest_subprocess(*INNER_ARGS)

    result.assert_outcomes(passed=1)


def test_an_allowed_destination_connects_and_another_port_is_still_blocked(
    pytester, port, other_port, monkeypatch
):
    monkeypatch.setenv("ALLOWED_PORT", str(port))
    monkeypatch.setenv("OTHER_PORT", str(other_port))
    pytester.makeini(
        f"[pytest]\norchestrator_network_allow =\n    127.0.0.1:{port}\n    [::1]:5432\n"
    )
    pytester.makepyfile(ALLOWED_AND_OTHER)

    result = pytester.runpytest_subprocess(*INNER_ARGS, "-v")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*::test_reaches_the_allowed_database_port PASSED*",
            "*::test_another_port_is_still_blocked FAILED*",
            f"*NetworkAccessBlocked: network access blocked (connect to (*, {other_port}))*",
        ]
    )


@pytest.mark.parametrize("entry", ["localhost:abc", "[localhost]:5432", "db:", "http://db:5432"])
def test_a_malformed_allowed_destination_is_one_usage_error(pytester, entry):
    pytester.makepyfile("def test_never_runs():\n    pass\n")

    result = pytester.runpytest(*INNER_ARGS, "-o", f"orchestrator_network_allow={entry}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if "orchestrator_network_allow" in line]
    assert len(errors) == 1, result.errlines
    assert f"orchestrator_network_allow: {entry!r} is not a destination" in errors[0]
    assert "expected host:port (127.0.0.1:5432, localhost:6379, [::1]:5432)" in errors[0]
