"""Settings for the fast test layer: everything in process, no network.

Celery runs tasks eagerly and propagates their errors, results stay in this
process, the channel layer lives in memory and mail goes to ``mail.outbox``.
"""

import contextlib

from example_project.settings.base import *  # noqa: F403
from example_project.settings.base import DATA_DIR

# Where the source is mounted read-only (stackyard's worker containers, which get
# their database from the stack), the directory is neither made nor needed.
with contextlib.suppress(OSError):
    DATA_DIR.mkdir(parents=True, exist_ok=True)

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "fast.sqlite3",
        # A file, not :memory:, so that database_sync_to_async threads and the
        # test share one database; pytest-xdist adds a per-worker suffix.
        "TEST": {"NAME": DATA_DIR / "test.sqlite3"},
        # The integration layer's worker container writes to the same file.
        "OPTIONS": {"timeout": 20},
    }
}

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_STORE_EAGER_RESULT = False
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
BILLING_EMAIL_RETRY_DELAY = 0
BILLING_GATEWAY_DELAY = 0
