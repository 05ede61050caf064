"""A suite's own tasks module, which the project's Celery app does not import."""

from celery import shared_task


@shared_task
def export_report() -> str:
    return "exported"
