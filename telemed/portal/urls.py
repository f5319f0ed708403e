from django.urls import path

from telemed.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("ping", views.ping, name="ping"),
]
