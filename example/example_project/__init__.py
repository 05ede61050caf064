"""Reference project: chat over Channels, billing over Celery."""

from example_project.celery import app as celery_app

__all__ = ["celery_app"]
