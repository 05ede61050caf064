"""Shared by the integration tests that inspect the Docker engine themselves."""

import pytest

from orchestrator.engine import connect


@pytest.fixture
def docker_client():
    client = connect()
    yield client
    client.close()
