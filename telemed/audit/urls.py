from django.urls import path

from telemed.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.my_access_log, name="my_access_log"),
]
