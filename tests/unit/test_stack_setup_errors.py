"""stackyard's own bound on waiting for the stack fires before the test's timeout."""

import pytest


@pytest.mark.parametrize("timeout_line", ["timeout = 8", ""])
def test_a_stack_that_never_gets_ready_is_reported_by_stackyard(
    pytester, monkeypatch, timeout_line
):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyprojecttoml(f"[tool.orchestrator]\n[tool.pytest.ini_options]\n{timeout_line}\n")
    # A start that hangs (an image build that never ends, say): no engine is touched.
    pytester.makeconftest(
        """
        import threading
        from fixtures import run

        never = threading.Event()
        run.RunContext._open = lambda self: never.wait(30)
        """
    )
    pytester.makepyfile(test_x="def test_x(stack):\n    pass\n")
    arguments = ["-p", "no:cacheprovider", "-p", "no:xdist"]
    if not timeout_line:
        arguments.append("--timeout=7")

    result = pytester.runpytest_subprocess(*arguments, timeout=60)

    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "+++ Timeout +++" not in output
    result.stdout.fnmatch_lines(["*the stack was not ready within [23]s*"])
