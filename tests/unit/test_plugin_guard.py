"""The plugin puts every non-integration test behind the network guard.

These run pytest in a subprocess: the outer test is itself guarded, and the
inner session must patch a clean ``socket`` module of its own.
"""

import socket
from collections.abc import Iterator

import pytest

INNER_ARGS = ("-p", "no:django", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:asyncio")


@pytest.fixture
def port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


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
