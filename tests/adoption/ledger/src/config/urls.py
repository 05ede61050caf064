from django.urls import path

from payments import views

urlpatterns = [
    path("payments/<int:pk>/", views.payment_page, name="payment"),
    path("payments/<int:pk>/settle/", views.settle, name="settle"),
]
