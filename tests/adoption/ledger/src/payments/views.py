from functools import partial

from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from payments.models import Payment
from payments.tasks import settle_payment


def payment_page(request, pk):
    return render(request, "payments/page.html", {"payment": get_object_or_404(Payment, pk=pk)})


@require_POST
def settle(request, pk):
    payment = get_object_or_404(Payment, pk=pk)
    transaction.on_commit(partial(settle_payment.delay, payment.id))
    return JsonResponse({"queued": payment.id}, status=202)
