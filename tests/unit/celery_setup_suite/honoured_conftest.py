"""The overrides of pytest-celery's fixtures that act on a stack; the tests stop where
their fixtures would start the stack."""

import pytest
from pytest_celery import CeleryTestSetup


class SuiteSetup(CeleryTestSetup):
    pass


@pytest.fixture
def celery_setup_cls():
    return SuiteSetup


@pytest.fixture
def default_worker_tasks(default_worker_tasks):
    return default_worker_tasks


def pytest_runtest_setup(item):
    # After stackyard's checks (they run first), before any fixture.
    pytest.skip("reached the fixtures")
