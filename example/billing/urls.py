from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("invoices/<int:invoice_id>/send/", views.send_invoice, name="send"),
]
