"""The one endpoint->settings mapping, and what the worker's failures are blamed on."""

import dataclasses
import json
from pathlib import Path

from orchestrator.django_settings import (
    SETTINGS_VARIABLE,
    celery_environment,
    container_environment,
    django_settings,
)
from orchestrator.plan import Endpoints
from orchestrator.services.worker import WorkerSettings, diagnose

ENDPOINTS = Endpoints(
    broker_url="amqp://u:secret@rabbitmq:5672/stackyard-gw0",
    result_backend="redis://:secret@redis:6379/2",
    channel_layer_url="redis://:secret@redis:6379/0",
    channel_layer_prefix="stackyard-gw0",
)


def test_celery_reads_every_broker_url_from_its_own_variables():
    environment = celery_environment(ENDPOINTS)

    assert {environment[name] for name in environment if "BROKER" in name} == {ENDPOINTS.broker_url}
    assert environment["CELERY_RESULT_BACKEND"] == ENDPOINTS.result_backend


def test_the_worker_gets_the_same_settings_as_the_tests_plus_its_database():
    endpoints = dataclasses.replace(ENDPOINTS, database_url="sqlite:///state/db/gw0.sqlite3")

    shipped = container_environment(endpoints)
    settings = json.loads(shipped[SETTINGS_VARIABLE])

    tests = django_settings(endpoints)
    assert settings == {**tests, "DATABASES": settings["DATABASES"]}
    assert settings["DATABASES"]["default"]["NAME"] == "/state/db/gw0.sqlite3"
    assert "CACHES" not in settings  # the cache role is not bound
    assert settings["CELERY_TASK_ALWAYS_EAGER"] is False
    layer = settings["CHANNEL_LAYERS"]["default"]["CONFIG"]
    assert layer["prefix"] == "stackyard-gw0"
    assert layer["hosts"] == [{"address": ENDPOINTS.channel_layer_url, "socket_timeout": None}]


def _settings() -> WorkerSettings:
    return WorkerSettings(
        source=Path("/p/src"),
        app="config.workers:queue_app",
        django_settings="config.settings.test",
        queues=["ledger"],
        concurrency=1,
        environment={},
    )


def test_a_worker_on_another_broker_is_named_with_the_one_expected():
    logs = "[... INFO/MainProcess] Connected to amqp://guest:**@localhost:5672//\n"

    hint = diagnose(_settings(), "rabbitmq:5672/stackyard-gw0", "running", logs)

    assert "connected to localhost:5672// instead of the stack's broker" in hint
    assert "rabbitmq:5672/stackyard-gw0" in hint
    assert "import error" not in hint


def test_a_worker_that_stopped_is_blamed_on_its_log_not_on_the_broker():
    hint = diagnose(_settings(), "rabbitmq:5672/v", "exited with code 1", "ImportError: x")

    assert "stopped" in hint
    assert "config.settings.test" in hint
    assert "broker" not in hint


def test_no_password_in_the_reprs_of_credentials_and_the_worker_spec():
    from orchestrator.plan import generate_credentials
    from orchestrator.services.worker import worker_spec

    credentials = generate_credentials()
    settings = WorkerSettings(
        source=Path("/p/src"),
        app="a",
        django_settings="s",
        queues=["q"],
        concurrency=1,
        environment=container_environment(ENDPOINTS),
    )
    spec = worker_spec("image", settings, lambda locate: ENDPOINTS.broker_url, "v", 10.0)

    shown = repr(credentials) + repr(settings) + repr(spec)
    secrets = [value for service in credentials.values() for value in service.values()]
    for secret in [*secrets, "secret"]:
        if "stackyard" not in secret:  # a user name or vhost is no secret
            assert secret not in shown
