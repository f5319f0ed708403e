from django.urls import path

from telemed.api.fhir import views

app_name = "fhir"

urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    path(".well-known/smart-configuration", views.smart_configuration, name="smart_configuration"),
    path("<str:type_name>", views.search, name="search"),
    path("<str:type_name>/<str:object_id>", views.read, name="read"),
]
