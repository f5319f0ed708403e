from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagingConfig(AppConfig):
    name = "telemed.messaging"
    label = "messaging"
    verbose_name = _("Messages and Intramed")

    def ready(self):
        from telemed.notifications import kinds

        kinds.register("message", _("New messages"))
