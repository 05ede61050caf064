"""Before collection, the run starts the stack only when it can select integration tests."""

import pytest

from fixtures.run import may_select_integration


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

    assert may_select_integration(config) is expected
