from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "telemed.reports"
    label = "reports"
    verbose_name = _("Reports and prescriptions")

    def ready(self):
        from telemed.notifications import kinds

        kinds.register("report_signed", _("Signed reports and prescriptions"))
