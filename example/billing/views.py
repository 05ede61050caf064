"""Billing pages: the live dashboard and the endpoint that queues an invoice email."""

from functools import partial

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from billing.models import Invoice
from billing.tasks import send_invoice_email


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/dashboard.html", {"invoices": Invoice.objects.all()})


@login_required
@require_POST
def send_invoice(request: HttpRequest, invoice_id: int) -> JsonResponse:
    invoice = get_object_or_404(Invoice, pk=invoice_id)
    # Queue only once the request's transaction commits: a worker in another
    # process must be able to read what this request wrote.
    transaction.on_commit(partial(send_invoice_email.delay, invoice.id))
    return JsonResponse({"invoice": invoice.id, "queued": True}, status=202)
