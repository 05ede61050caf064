"""Settings for running against real services started by the orchestrator.

The endpoints come from environment variables that the orchestrator exports
(``orchestrator env`` prints them; the pytest layer sets them for the worker
container). A missing variable is reported by name at import time.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from example_project.settings.base import *  # noqa: F403


def _endpoint(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set: the integration settings take their endpoints from the "
            'orchestrator; run `make test-integration`, or `eval "$(orchestrator env)"` '
            "against a running stack"
        )
    return value


CELERY_BROKER_URL = _endpoint("ORCHESTRATOR_BROKER_URL")
CELERY_RESULT_BACKEND = _endpoint("ORCHESTRATOR_RESULT_BACKEND")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            # redis-py 8 times reads out after 5 s by default, as long as the layer's
            # blocking pop: an idle consumer would fail with "Timeout reading". The
            # layer expects reads without a timeout (Redis bounds the pop itself).
            "hosts": [
                {"address": _endpoint("ORCHESTRATOR_CHANNEL_LAYER_URL"), "socket_timeout": None}
            ],
            # Pub/sub ignores Redis DB numbers: the prefix keeps runs apart.
            "prefix": os.environ.get("ORCHESTRATOR_CHANNEL_LAYER_PREFIX", "asgi"),
        },
    }
}

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _endpoint("ORCHESTRATOR_DATABASE_PATH"),
        "OPTIONS": {"timeout": 20},
    }
}

EMAIL_BACKEND = "example_project.mail.TransientFailureBackend"
# Short, so that a retry through the broker is observable within a test.
BILLING_EMAIL_RETRY_DELAY = 1
