"""Sharding (--shard K/N) and the closing summary, on small projects pytester makes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.report import Summary, parse_shard

PLAIN = ("-p", "no:django", "-p", "no:asyncio", "-p", "no:cacheprovider")


@pytest.mark.parametrize(("text", "expected"), [("1/1", (1, 1)), ("2/3", (2, 3)), (" 3/3", (3, 3))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["", "1", "0/2", "3/2", "1/0", "a/b", "1/2/3", "-1/2"])
def test_bad_shard_is_a_one_line_usage_error(text):
    with pytest.raises(pytest.UsageError) as raised:
        parse_shard(text)

    assert "\n" not in str(raised.value)
    assert "K/N" in str(raised.value) or "between 1 and N" in str(raised.value)


@pytest.fixture
def suite(pytester):
    """Ten tests with recorded durations: one long one and nine short ones."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        test_many="""
        import pytest

        @pytest.mark.parametrize("n", range(10))
        def test_n(n):
            pass
        """
    )
    durations = {f"test_many.py::test_n[{n}]": (9.0 if n == 0 else 1.0) for n in range(10)}
    (pytester.path / ".test_durations").write_text(json.dumps(durations))
    return pytester


def _selected(result):
    return sorted(line.split(" ")[0] for line in result.outlines if " PASSED" in line)


def test_shards_cover_every_test_once_and_balance_by_duration(suite):
    one = suite.runpytest(*PLAIN, "--shard", "1/2", "-v")
    two = suite.runpytest(*PLAIN, "--shard", "2/2", "-v")

    one.assert_outcomes(passed=len(_selected(one)), deselected=10 - len(_selected(one)))
    selected = _selected(one) + _selected(two)
    assert sorted(selected) == sorted(f"test_many.py::test_n[{n}]" for n in range(10))
    # least_duration: the 9 s test alone on one side, the nine 1 s tests on the other.
    assert sorted([len(_selected(one)), len(_selected(two))]) == [1, 9]


def test_shard_and_splits_together_are_refused(suite):
    result = suite.runpytest(*PLAIN, "--shard", "1/2", "--splits", "2", "--group", "1")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--shard replaces pytest-split's --splits/--group*"])


def test_bad_shard_stops_the_run(suite):
    result = suite.runpytest(*PLAIN, "--shard", "3/2")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--shard '3/2': K must be between 1 and N*"])


SOME_TESTS = """
import time


def test_slow():
    time.sleep(0.3)


def test_quick():
    pass
"""
# Played by the inner project's conftest: this process timed a service, as the stack
# fixture does after attaching to (or starting) the stack.
SERVICE_TIMED = """
from fixtures.run import run_key


def pytest_sessionfinish(session):
    session.config.stash[run_key].timings.append(
        {"process": "main", "service": "redis", "image": 0.5, "ready": 1.25, "how": "started"}
    )
"""


@pytest.fixture
def step_summary(tmp_path, monkeypatch):
    path = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


def test_a_shard_run_summary_names_slowest_tests_junit_and_artifacts(pytester, step_summary):
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_some=SOME_TESTS)
    durations = {"test_some.py::test_slow": 0.3, "test_some.py::test_quick": 0.0}
    (pytester.path / ".test_durations").write_text(json.dumps(durations))

    result = pytester.runpytest(*PLAIN, "--shard", "1/1", "--junitxml", "reports/junit.xml")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*stackyard summary*",
            "shard 1/1",
            "slowest tests:",
            "*0.3*s  test_some.py::test_slow",
            "*test_some.py::test_quick",
            "JUnit XML: reports/junit.xml",
            "browser artifacts: none (no browser test failed)",
            "container logs: none (no test failed)",
        ]
    )
    markdown = step_summary.read_text()
    assert "### stackyard summary (shard 1/1)" in markdown
    assert "`test_some.py::test_slow`" in markdown
    assert "JUnit XML: `reports/junit.xml`" in markdown


def test_a_run_that_timed_services_lists_them(pytester, step_summary):
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(SERVICE_TIMED)
    pytester.makepyfile(test_some=SOME_TESTS)

    result = pytester.runpytest(*PLAIN)

    result.stdout.fnmatch_lines(
        [
            "*stackyard summary*",
            "services: process  service*",
            "*main *redis *0.50s *1.25s  started",
        ]
    )
    assert "| main | redis | 0.50 s | 1.25 s | started |" in step_summary.read_text()


def test_a_run_in_which_stackyard_did_nothing_has_no_summary(pytester, step_summary):
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_some=SOME_TESTS)

    result = pytester.runpytest(*PLAIN, "--junitxml", "reports/junit.xml")

    result.assert_outcomes(passed=2)
    assert "stackyard summary" not in result.stdout.str()
    assert not step_summary.exists()


@pytest.mark.parametrize(
    ("what", "news"),
    [
        ({}, False),
        ({"shard": "1/2"}, True),
        ({"services": [{"service": "redis"}]}, True),
        ({"artifacts": ["artifacts/t/browser-1-screenshot.png"]}, True),
        ({"container_logs": ["artifacts/containers/redis.log"]}, True),
        ({"slowest": [(1.0, "t.py::t")], "junit": "reports/junit.xml"}, False),
    ],
)
def test_the_summary_has_news_only_of_what_stackyard_did(what, news):
    fields = {"shard": None, "services": [], "slowest": [], "junit": None}
    summary = Summary(**{**fields, "artifacts": [], "container_logs": [], **what})

    assert summary.has_news() is news


def test_this_repository_shards_cover_the_integration_layer_exactly_once(pytestconfig):
    """`make test-integration SHARD=1/2` and `SHARD=2/2` together select every test once."""
    root = pytestconfig.rootpath

    def collect(*extra: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "pytest", "-m", "integration", "--collect-only", "-q"]
        return subprocess.Popen(
            [*command, "-p", "no:cacheprovider", *extra],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def selected(run: subprocess.Popen[str]) -> list[str]:
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, output[-3000:]
        return [line for line in output.splitlines() if "::" in line]

    # The three collections at once: each is a whole pytest start-up.
    runs = collect(), collect("--shard", "1/2"), collect("--shard", "2/2")
    everything, one, two = (selected(run) for run in runs)

    assert len(everything) > 10
    assert sorted(one + two) == sorted(everything)
    assert not set(one) & set(two)
    assert Path(root, ".test_durations").is_file(), "run `make durations` and commit the file"


def test_a_shard_runs_its_longest_modules_first(pytester):
    pytester.makeini("[pytest]\n")
    for name in ("test_a", "test_b", "test_c"):
        pytester.makepyfile(**{name: "def test_one():\n    pass\n\ndef test_two():\n    pass\n"})
    durations = {
        "test_a.py::test_one": 1.0,
        "test_a.py::test_two": 1.0,
        "test_b.py::test_one": 2.0,
        "test_b.py::test_two": 9.0,
        "test_c.py::test_one": 4.0,  # test_c.py::test_two is new: it counts as the average
    }
    (pytester.path / ".test_durations").write_text(json.dumps(durations))

    sharded = pytester.runpytest(*PLAIN, "--shard", "1/1", "-v")
    plain = pytester.runpytest(*PLAIN, "-v")

    order = [line.split(" ")[0] for line in sharded.outlines if " PASSED" in line]
    assert order == [
        "test_b.py::test_one",
        "test_b.py::test_two",
        "test_c.py::test_one",
        "test_c.py::test_two",
        "test_a.py::test_one",
        "test_a.py::test_two",
    ]
    assert [line.split(" ")[0] for line in plain.outlines if " PASSED" in line] == sorted(order)
