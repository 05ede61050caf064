"""Markers: registration, strictness, and what is marked integration automatically."""

import pytest

INNER_ARGS = ("-p", "no:django", "-p", "no:xdist", "-p", "no:asyncio", "--strict-markers")


@pytest.fixture
def project(pytester):
    """An inner project with a fast test, an integration directory and marked tests."""
    pytester.makeini(
        """
        [pytest]
        orchestrator_service_fixtures = redis_endpoint
        """
    )
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def redis_endpoint():
            return "redis://127.0.0.1:6379/0"
        """
    )
    pytester.makepyfile(
        test_fast="""
        import pytest

        def test_plain():
            pass

        @pytest.mark.browser
        def test_in_a_browser():
            pass

        def test_with_service(redis_endpoint):
            pass
        """
    )
    integration = pytester.mkpydir("tests")
    (integration / "integration").mkdir()
    (integration / "integration" / "test_broker.py").write_text(
        "def test_round_trip():\n    pass\n"
    )
    return pytester


def selected(pytester, expression: str) -> set[str]:
    result = pytester.runpytest_inprocess(*INNER_ARGS, "--collect-only", "-q", "-m", expression)
    return {line.split("::")[-1] for line in result.outlines if "::" in line}


def test_integration_marker_is_added_by_location_browser_marker_and_service_fixture(project):
    assert selected(project, "integration") == {
        "test_in_a_browser",
        "test_with_service",
        "test_round_trip",
    }


def test_not_integration_selects_only_the_fast_test(project):
    assert selected(project, "not integration") == {"test_plain"}


def test_markers_are_registered_with_descriptions(pytester):
    result = pytester.runpytest_inprocess(*INNER_ARGS, "--markers")

    result.stdout.fnmatch_lines(["@pytest.mark.integration: needs real services*"])
    result.stdout.fnmatch_lines(
        ["@pytest.mark.browser: drives a real browser; implies integration"]
    )


def test_unknown_marker_is_an_error_under_strict_markers(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.integratoin
        def test_typo():
            pass
        """
    )

    result = pytester.runpytest_inprocess(*INNER_ARGS)

    result.stdout.fnmatch_lines(["*'integratoin' not found in `markers` configuration option*"])
    assert result.ret != 0
