from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemindersConfig(AppConfig):
    name = "telemed.reminders"
    label = "reminders"
    verbose_name = _("Reminders")

    def ready(self):
        from telemed.notifications import kinds

        kinds.register("reminder", _("Reminders"))
