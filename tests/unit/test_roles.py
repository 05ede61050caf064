"""Roles bound in [tool.orchestrator]: values, defaults, URLs of servers that already run."""

import pytest

from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from orchestrator.images import stack_services
from orchestrator.plan import StackPlan, generate_credentials
from orchestrator.roles import bindings


def _config(tmp_path, table: str, **environ: str):
    (tmp_path / "pyproject.toml").write_text(f"[tool.orchestrator]\n{table}\n")
    return load_config(tmp_path, environ=environ)


def test_defaults_bind_rabbitmq_redis_and_sqlite_and_leave_the_cache_alone(tmp_path):
    found = bindings(_config(tmp_path, "").values)

    assert {role: b.service for role, b in found.items()} == {
        "broker": "rabbitmq",
        "results": "redis",
        "channel_layer": "redis",
        "cache": "none",
        "database": "sqlite",
    }
    assert [role for role, b in found.items() if b.managed] == [
        "broker",
        "results",
        "channel_layer",
    ]


def test_a_redis_broker_stack_has_no_rabbitmq_at_all(tmp_path):
    config = _config(tmp_path, 'broker = "redis"\ndatabase = "postgres"')

    assert stack_services(config) == ("postgres", "redis", "browser")
    plan = StackPlan(config, {}, generate_credentials())
    assert plan.services == ["postgres", "redis"]


@pytest.mark.parametrize(
    ("table", "server"),
    [
        ('database = "postgres"', "postgres"),
        ('database = "sqlite"', None),
        ('database = "postgres://app:pw@db.ci:5432/app"', None),  # the project's own
    ],
)
def test_only_the_stacks_own_database_server_waits_to_be_wanted(tmp_path, table, server):
    plan = StackPlan(_config(tmp_path, table), {}, generate_credentials())

    assert plan.database_server == server
    assert "postgres" not in plan.eager_services
    assert "rabbitmq" in plan.eager_services


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('broker = "kafka"', "broker = 'kafka': expected 'rabbitmq' or 'redis', or the URL"),
        ('database = "mysql"', "database = 'mysql': expected 'sqlite' or 'postgres'"),
        ('results = "rabbitmq"', "results = 'rabbitmq': expected 'redis'"),
        ('cache = "postgres://h/db"', "cache = 'postgres://h/db': expected 'none' or 'redis'"),
    ],
)
def test_a_value_that_names_nothing_is_one_error_with_the_choices(tmp_path, table, expected):
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, table)

    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_a_url_binds_a_server_that_runs_already_and_its_password_is_never_shown(tmp_path):
    config = _config(
        tmp_path,
        "",
        ORCHESTRATOR_BROKER="redis://:hunter2@localhost:6390/0",
        ORCHESTRATOR_DATABASE="postgres://app:hunter2@db.ci:5432/app",
    )
    found = bindings(config.values)
    plan = StackPlan(config, {}, generate_credentials())

    assert (found["broker"].service, found["broker"].managed) == ("redis", False)
    assert (found["database"].service, found["database"].managed) == ("postgres", False)
    assert plan.services == ["redis"]  # results and channel layer: the stack's own Redis
    inside = plan.internal_endpoints()
    # The containers reach a server on this machine's loopback through the host alias.
    assert inside.broker_url == "redis://:hunter2@host.docker.internal:6390/1"
    assert inside.database_url == "postgresql://app:hunter2@db.ci:5432/test_stackyard"
    assert "hunter2" not in repr(found) + repr(config) + repr(plan) + repr(inside)
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, "", ORCHESTRATOR_BROKER="kafka://:hunter2@localhost/0")
    assert "hunter2" not in str(error.value)
    assert "***" in str(error.value)


def test_postgres_without_a_driver_is_one_error_naming_the_package(monkeypatch):
    import importlib.util

    from fixtures.run import missing_postgres_driver

    assert missing_postgres_driver() == ""  # psycopg is installed here
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    message = missing_postgres_driver()
    assert "install psycopg[binary] (or psycopg2-binary)" in message
    assert "\n" not in message


def test_a_url_without_a_usable_port_names_the_role_and_hides_the_password(tmp_path):
    with pytest.raises(ConfigError) as error:
        _config(tmp_path, "", ORCHESTRATOR_RESULTS="redis://:hunter2@localhost:port/0")

    assert str(error.value) == (
        "ORCHESTRATOR_RESULTS: results = redis://:***@localhost:port/0: the port is not a number"
    )
