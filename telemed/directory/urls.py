from django.urls import path

from telemed.directory import views

app_name = "directory"

urlpatterns = [
    path("", views.search, name="search"),
    path("<slug:slug>/", views.profile, name="profile"),
]
