"""Errors of the stack's set-up: stackyard's own, before the test's timeout, each once."""

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
    result.stdout.fnmatch_lines(["*the stack was not ready within [456]s*"])


def test_a_stack_that_failed_is_reported_in_full_once(pytester, monkeypatch):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyprojecttoml("[tool.orchestrator]\n")
    pytester.makeconftest(
        """
        import pytest
        from fixtures import run
        from orchestrator.errors import OrchestratorError

        def broken(self):
            raise OrchestratorError("service 'rabbitmq' could not start\\nits whole story")

        run.RunContext._open = broken

        @pytest.fixture
        def own():
            raise RuntimeError("the project's own fixture\\nsecond line")
        """
    )
    pytester.makepyfile(
        test_x="""
        def test_a(stack): pass
        def test_b(stack): pass
        def test_c(stack): pass
        def test_own_1(own): pass
        def test_own_2(own): pass
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")

    result.assert_outcomes(errors=5)
    # The reports, before pytest's short summary (which shows more of a message when it
    # has room, as without a terminal).
    output = result.stdout.str().split("short test summary info")[0]
    # Once, and not twice in one report ("During handling of the above exception").
    assert output.count("its whole story") == 1, output
    assert output.count("the same error as test_x.py::test_a") == 2
    # The project's own set-up errors are reported as pytest reports them.
    reported = [line for line in result.outlines if line.startswith("E") and "second line" in line]
    assert len(reported) == 2


def test_services_wait_no_longer_than_the_tests_timeout_allows(pytester, monkeypatch):
    # Readiness errors (the service, its log, the hint) must come before stackyard's wait
    # for the stack gives up, and that before pytest-timeout fires.
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyprojecttoml(
        "[tool.orchestrator]\nstartup_timeout = 60\n[tool.pytest.ini_options]\ntimeout = 30\n"
    )
    pytester.makeconftest(
        """
        import pathlib
        from fixtures import run

        def record(self):
            pathlib.Path("limit.txt").write_text(str(self.config().startup_timeout))
            raise run.OrchestratorError("recorded")

        run.RunContext._open = record
        """
    )
    pytester.makepyfile(test_x="def test_x(stack):\n    pass\n")

    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", timeout=60)

    assert float((pytester.path / "limit.txt").read_text()) == 26.0


def test_the_queues_an_apps_routes_name():
    from celery import Celery

    from fixtures.integration import routed_queues

    app = Celery("routes", set_as_current=False)
    app.conf.task_routes = [
        {"shop.tasks.export": {"queue": "exports"}, "shop.tasks.mail": "not-a-dict"},
        {"shop.tasks.*": {"queue": "shop", "routing_key": "x"}},
        lambda *args, **kwargs: {"queue": "never-run"},
    ]

    assert routed_queues(app) == {"exports", "shop"}
    app.conf.task_routes = {"billing.tasks.render": {"queue": "pdf"}}
    assert routed_queues(app) == {"pdf"}
    app.close()


def django_project(pytester, monkeypatch, orchestrator_table: str = "") -> None:
    """A stackyard project with Django settings on a SQLite file, for an inner session."""
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    pytester.makepyprojecttoml(
        f"""
        [tool.orchestrator]
        {orchestrator_table}
        [tool.pytest.ini_options]
        DJANGO_SETTINGS_MODULE = "settings"
        pythonpath = ["."]
        """
    )
    pytester.makepyfile(
        settings="""
        SECRET_KEY = "x"
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
        """
    )


def test_postgres_without_a_driver_fails_once_in_one_line_and_starts_nothing(pytester, monkeypatch):
    django_project(pytester, monkeypatch, 'database = "postgres"')
    # As if psycopg were not installed; a start would fail on this engine-less run.
    pytester.makeconftest(
        """
        from fixtures import database, run

        def no_driver():
            return "database = 'postgres' needs a PostgreSQL driver: install psycopg[binary]"

        database.missing_postgres_driver = run.missing_postgres_driver = no_driver
        run.RunContext._open = lambda self: (_ for _ in ()).throw(AssertionError("started"))
        """
    )
    pytester.makepyfile(
        test_x="""
        import pytest
        pytestmark = pytest.mark.integration
        def test_a(transactional_db): pass
        def test_b(transactional_db): pass
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", timeout=60)

    result.assert_outcomes(errors=2)
    output = result.stdout.str()
    # The reports (before the summary, whose lines pytest shortens unless CI is set).
    reports = output.partition("short test summary info")[0]
    assert reports.count("install psycopg[binary]") == 2  # in full once, then its headline
    assert "the same error as test_x.py::test_a" in reports
    assert "Traceback" not in output
    assert "started" not in output


def test_a_second_run_in_one_checkout_stops_in_one_line_while_the_first_holds_its_slice(
    pytester, monkeypatch
):
    from orchestrator.state import try_lock

    django_project(pytester, monkeypatch)
    pytester.makeconftest(
        """
        import threading
        from fixtures import run

        never = threading.Event()
        run.RunContext._open = lambda self: never.wait(30)  # no engine here
        """
    )
    pytester.makepyfile(
        test_x="""
        import pytest
        pytestmark = pytest.mark.integration
        def test_a(transactional_db): pass
        """
    )
    held = pytester.path / ".stackyard" / "db" / "main.lock"
    held.parent.mkdir(parents=True)
    with open(held, "a") as first_run:
        assert try_lock(first_run)  # the first run of this checkout, still going

        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")

    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "another test run in this checkout is using slice 'main'" in output
    assert "ORCHESTRATOR_STATE_DIR" in output
    assert "Traceback" not in output
