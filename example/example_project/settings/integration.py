"""Settings of the worker containers in this repository's integration tests.

stackyard points the worker at the stack itself (broker, result backend, channel
layer and the slice's test database, applied over these settings), so nothing
here is about endpoints. What differs from the tests' own settings is the mail:
a backend whose first delivery to a flaky domain fails, so that retries through
the broker can be watched end to end, a second after each failure; and a payment
gateway that takes two seconds, long enough to lose a worker in the middle; and
settling retried at most two seconds apart while the database is down.
"""

from example_project.settings.fast import *  # noqa: F403

EMAIL_BACKEND = "example_project.mail.TransientFailureBackend"
BILLING_EMAIL_RETRY_DELAY = 1
# The payment gateway answers after a while, as in production (the fast layer's is 0).
BILLING_GATEWAY_DELAY = 2
BILLING_SETTLE_RETRY_MAX_DELAY = 2
