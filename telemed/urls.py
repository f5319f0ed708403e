from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from telemed.portal.views import healthz

urlpatterns = [
    path("", include("telemed.portal.urls")),
    path("account/", include("telemed.accounts.urls")),
    path("billing/", include("telemed.billing.urls")),
    path("medici/", include("telemed.directory.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
