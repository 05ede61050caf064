"""Tests that ask stackyard for pytest-celery's setup, the way a suite does."""


def test_celery_setup(celery_setup):
    pass


def test_stack_celery_setup(stack_celery_setup):
    pass
