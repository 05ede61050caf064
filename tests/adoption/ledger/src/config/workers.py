"""The Celery application of the ledger."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

queue_app = Celery("ledger")
queue_app.config_from_object("django.conf:settings", namespace="CELERY")
queue_app.autodiscover_tasks()
