from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsultsConfig(AppConfig):
    name = "telemed.consults"
    label = "consults"
    verbose_name = _("Consults")

    def ready(self) -> None:
        from telemed.consults import services
        from telemed.notifications import kinds

        kinds.register(services.NOTIFY_CONSULT, _("Consults"))
        kinds.register(services.NOTIFY_DEADLINE, _("Consult deadlines"))
        kinds.register(services.NOTIFY_INFO, _("Info requests"))
