from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CareConfig(AppConfig):
    name = "telemed.care"
    label = "care"
    verbose_name = _("Care links")

    def ready(self):
        from telemed.notifications import kinds

        kinds.register("care_link", _("Links with doctors and patients"))
