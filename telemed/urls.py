from django.contrib import admin
from django.urls import include, path

from telemed.portal.views import healthz, language_set

urlpatterns = [
    path("", include("telemed.portal.urls")),
    path("account/", include("telemed.accounts.urls")),
    path("billing/", include("telemed.billing.urls")),
    path("medici/", include("telemed.directory.urls")),
    path("i18n/setlang/", language_set, name="set_language"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
