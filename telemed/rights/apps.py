from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RightsConfig(AppConfig):
    name = "telemed.rights"
    label = "rights"
    verbose_name = _("Data rights")

    def ready(self) -> None:
        from telemed.notifications import kinds
        from telemed.rights import services

        kinds.register(services.NOTIFY_EXPORT_READY, _("Your data export is ready"))
