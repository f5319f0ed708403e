from django.contrib import admin
from django.urls import include, path

from telemed.observability.views import metrics
from telemed.portal.views import healthz, language_set

urlpatterns = [
    path("", include("telemed.portal.urls")),
    path("account/", include("telemed.accounts.urls")),
    path("billing/", include("telemed.billing.urls")),
    path("audit/", include("telemed.audit.urls")),
    path("notifications/", include("telemed.notifications.urls")),
    path("workers/", include("telemed.workers.urls")),
    path("care/", include("telemed.care.urls")),
    path("signatures/", include("telemed.signatures.urls")),
    path("box/", include("telemed.boxes.urls")),
    path("dicom/", include("telemed.dicom.urls")),
    path("messages/", include("telemed.messaging.urls")),
    path("reports/", include("telemed.reports.urls")),
    path("reminders/", include("telemed.reminders.urls")),
    path("consults/", include("telemed.consults.urls")),
    path("visits/", include("telemed.visits.urls")),
    path("medici/", include("telemed.directory.urls")),
    path("rights/", include("telemed.rights.urls")),
    path("", include("telemed.api.urls")),
    path("i18n/setlang/", language_set, name="set_language"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
]
