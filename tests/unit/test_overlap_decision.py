"""Before collection, the run starts the stack only when it can select integration tests."""

import pytest

from fixtures.run import may_select_integration, run_key


@pytest.fixture
def project(pytester):
    pytester.makeini("[pytest]\n")
    for directory in ("tests/unit", "tests/integration"):
        (pytester.path / directory).mkdir(parents=True)
    return pytester


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), True),
        (("-m", "integration"), True),
        (("-m", "not integration"), False),
        (("-m", "browser or integration"), True),
        (("tests",), True),
        (("tests/integration",), True),
        (("tests/unit",), False),
        (("tests/unit", "-m", "integration"), True),
        (("tests/unit", "-m", "not browser"), False),
        (("tests/integration/test_x.py::test_y",), True),
    ],
)
def test_decision(project, args, expected):
    config = project.parseconfigure("-p", "no:django", "-p", "no:xdist", "-p", "no:asyncio", *args)

    assert may_select_integration(config, config.option.markexpr, config.args) is expected


@pytest.mark.parametrize(
    ("pyproject", "extra", "starts"),
    [
        ("", (), False),  # no [tool.orchestrator]: not a project of ours
        ("[tool.orchestrator]\n", ("--collect-only",), False),
        ("[tool.orchestrator]\n", ("--fixtures-per-test",), False),
        ("[tool.orchestrator]\n", ("--setup-plan",), False),
        ("[tool.orchestrator]\n", ("--fixtures",), False),
        ("[tool.orchestrator]\n", ("--markers",), False),
        ("[tool.orchestrator]\n", ("-o", "orchestrator_overlap=false"), False),
        ("[tool.orchestrator]\n", ("-m", "not integration"), False),
    ],
)
def test_no_early_start_unless_wanted(project, pyproject, extra, starts):
    project.makepyprojecttoml(pyproject)

    config = project.parseconfigure(
        "-p", "no:django", "-p", "no:xdist", "-p", "no:asyncio", "-m", "integration", *extra
    )

    assert (config.stash[run_key]._future is not None) is starts


class _RunSpy:
    """Notes, at the end of an in-process run, whether it started getting a stack."""

    def __init__(self):
        self.started = []

    def pytest_unconfigure(self, config):
        self.started.append(config.stash[run_key]._future is not None)


@pytest.mark.parametrize(
    ("pyproject", "extra"),
    [
        ("", ()),  # not a project of ours: only a test that runs may ask for a stack
        ("[tool.orchestrator]\n", ("--fixtures-per-test",)),  # runs no test
    ],
)
def test_collecting_a_service_test_starts_nothing_in_a_run_that_cannot_use_it(
    project, pyproject, extra
):
    project.makepyprojecttoml(pyproject)
    project.makepyfile(
        test_skipped="import pytest\n\n@pytest.mark.skip\ndef test_x(stack):\n    pass\n"
    )
    spy = _RunSpy()

    project.inline_run(
        "-p",
        "no:django",
        "-p",
        "no:xdist",
        "-p",
        "no:asyncio",
        "test_skipped.py",
        *extra,
        plugins=[spy],
    )

    assert spy.started == [False]
