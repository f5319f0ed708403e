from django.urls import include, path

from telemed.api.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("o/", include("telemed.api.oauth_urls")),
    path("fhir/R4/", include("telemed.api.fhir.urls")),
]
