"""Shared helpers of the fast layer's tests of the reference app."""

from collections.abc import Callable
from decimal import Decimal
from itertools import count

import pytest
from billing.models import Invoice
from django.contrib.auth.models import User

# Bound on every WebSocket receive in this layer: in-process round trips take
# milliseconds, so a second means the message is not coming.
RECEIVE_TIMEOUT = 1.0


@pytest.fixture
def user(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(username="ada", password="not-a-real-password")


@pytest.fixture
def make_invoice() -> Callable[..., Invoice]:
    numbers = count(1)

    def make(amount: str = "120.00", **fields: object) -> Invoice:
        number = next(numbers)
        values = {"number": f"INV-{number:04d}", "customer_email": f"customer{number}@example.com"}
        values.update(fields)
        return Invoice.objects.create(amount=Decimal(amount), **values)

    return make
