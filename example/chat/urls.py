from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("<slug:room>/", views.room, name="room"),
]
