"""An email backend standing in for an SMTP server that is briefly unavailable.

The integration settings use it so that retries can be exercised end to end:
the first delivery to each recipient at ``FLAKY_DOMAIN`` fails with the error a
dropped SMTP connection raises; later deliveries succeed. Everything else is
Django's in-memory backend.
"""

import smtplib
import threading

from django.core.mail.backends.locmem import EmailBackend

FLAKY_DOMAIN = "flaky-smtp.invalid"


class TransientFailureBackend(EmailBackend):
    _failed_once: set[str] = set()
    _lock = threading.Lock()

    def send_messages(self, messages):
        for message in messages:
            for recipient in message.recipients():
                if recipient.endswith(f"@{FLAKY_DOMAIN}") and self._first_failure(recipient):
                    raise smtplib.SMTPServerDisconnected(f"connection to {FLAKY_DOMAIN} dropped")
        return super().send_messages(messages)

    @classmethod
    def _first_failure(cls, recipient: str) -> bool:
        with cls._lock:
            if recipient in cls._failed_once:
                return False
            cls._failed_once.add(recipient)
            return True
