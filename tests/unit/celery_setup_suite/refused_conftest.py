"""Overrides of pytest-celery's fixtures that have nothing to act on in a stack, as a suite
written for pytest-celery's own containers has them; the tests stop where their fixtures
would start the stack."""

import pytest
from pytest_celery import CeleryTestWorker, CeleryWorkerCluster, CeleryWorkerContainer


class SoloPoolWorker(CeleryWorkerContainer):
    @classmethod
    def command(cls, *args: str) -> list[str]:
        return super().command("-P", "solo")


@pytest.fixture
def default_worker_container_cls():
    return SoloPoolWorker


@pytest.fixture
def celery_worker_cluster(celery_worker: CeleryTestWorker):
    return CeleryWorkerCluster(celery_worker)


def pytest_runtest_setup(item):
    # After stackyard's checks (they run first), before any fixture.
    pytest.skip("reached the fixtures")
