"""The inner project's Django settings: enough for pytest-django to start."""

SECRET_KEY = "inner-suite"
INSTALLED_APPS: list[str] = []
