# Load the Celery app whenever Django starts, so that shared tasks bind to it.
from config.workers import queue_app as celery_app

__all__ = ["celery_app"]
