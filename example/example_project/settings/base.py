"""Settings shared by every way of running the reference project.

The broker, result backend, channel layer and database are left to the
modules that import this one: ``fast`` (in-process, no network) and
``integration`` (real services started by the orchestrator).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(os.environ.get("EXAMPLE_DATA_DIR", BASE_DIR / ".data"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "reference-project-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "chat",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "example_project.urls"
ASGI_APPLICATION = "example_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"

DEFAULT_FROM_EMAIL = "billing@example.invalid"

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ROUTES = {"billing.tasks.render_invoice_pdf": {"queue": "pdf"}}
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Results also record the task's name, queue and worker (tests and dashboards read them).
CELERY_RESULT_EXTENDED = True

# How long the send task waits before trying a transient SMTP failure again.
BILLING_EMAIL_RETRY_DELAY = 30
BILLING_EMAIL_MAX_RETRIES = 3
# Seconds the payment gateway takes to answer.
BILLING_GATEWAY_DELAY = 2
# Settling tries again while the database is unreachable: after 1, 2, 4... seconds
# (jittered), at most this long apart, this many times.
BILLING_SETTLE_RETRY_MAX_DELAY = 60
BILLING_SETTLE_MAX_RETRIES = 10
