"""No generated secret in what a failing run leaves: its terminal output, JUnit XML,
saved container logs and browser artifacts."""

import json

from tests.integration.inner import run_session

FAILING = """
import json, pathlib
import pytest
from billing.models import Invoice
from billing.tasks import send_invoice_email

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def record_secrets(stack):
    # What the stack generated, written out of the failing frame (whose locals are shown).
    credentials = stack.attachment.plan.credentials
    secrets = [v for service in credentials.values() for k, v in service.items() if "pass" in k]
    pathlib.Path({record!r}).write_text(json.dumps(secrets))


def test_fails_with_every_endpoint_in_view(
    stack, stack_settings, broker_url, result_backend_url, channel_layer_url,
    stack_celery_app, stack_worker, channels_live_server, browser,
):
    record_secrets(stack)
    invoice = Invoice.objects.create(number="INV-1", amount="1.00", customer_email="a@b.example")
    assert send_invoice_email.delay(invoice.id).get(timeout=30) == invoice.id
    browser.get(channels_live_server.url)
    endpoints = stack.endpoints
    assert not endpoints, f"failing on purpose with {{endpoints!r}} and {{broker_url!r}}"


def test_compares_urls(broker_url, stack_settings):
    assert stack_settings.broker_url == broker_url + "/other"  # pytest explains the difference
"""


def test_a_failing_run_shows_no_generated_secret(pytestconfig, tmp_path):
    record, artifacts = tmp_path / "secrets.json", tmp_path / "artifacts"
    junit = tmp_path / "junit.xml"
    completed = run_session(
        pytestconfig.rootpath,
        tmp_path,
        FAILING.format(record=str(record)),
        f"--junitxml={junit}",
        "-o",
        f"orchestrator_artifacts_dir={artifacts}",
        "--tb=long",
        "--showlocals",
    )

    assert completed.returncode == 1, completed.stdout[-3000:]
    assert "failing on purpose" in completed.stdout
    assert "stackyard hides the stack's passwords" in completed.stdout  # the comparison
    secrets = json.loads(record.read_text())
    assert len(secrets) >= 3  # Redis, RabbitMQ, PostgreSQL (and VNC) passwords
    saved = sorted(path for path in artifacts.rglob("*") if path.is_file())
    assert any(path.name == "rabbitmq.log" or path.name == "redis.log" for path in saved)
    places = {"terminal": completed.stdout + completed.stderr, "junit": junit.read_text()}
    places |= {str(path): path.read_text(errors="replace") for path in saved}
    for where, text in places.items():
        for secret in secrets:
            assert secret not in text, f"a generated password is in {where}"
