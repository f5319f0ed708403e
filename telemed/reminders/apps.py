from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemindersConfig(AppConfig):
    name = "telemed.reminders"
    label = "reminders"
    verbose_name = _("Reminders")

    def ready(self):
        from telemed.notifications import kinds
        from telemed.observability.metrics import collector_register
        from telemed.reminders.metrics import DispatchLagCollector

        kinds.register("reminder", _("Reminders"))
        collector_register(DispatchLagCollector())
