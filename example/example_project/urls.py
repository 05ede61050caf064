"""URL configuration of the reference project."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("chat/", include("chat.urls")),
    path("billing/", include("billing.urls")),
]
