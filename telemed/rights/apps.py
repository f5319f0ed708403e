from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RightsConfig(AppConfig):
    name = "telemed.rights"
    label = "rights"
    verbose_name = _("Data rights")

    def ready(self) -> None:
        from telemed.notifications import kinds
        from telemed.rights import erasure, services

        kinds.register(services.NOTIFY_EXPORT_READY, _("Your data export is ready"))
        # Always e-mailed by its own task (the patient must learn it even with e-mails off).
        kinds.register(erasure.NOTIFY_DOCTOR_LEAVING, _("A doctor of yours is leaving telemed"), email_by_default=False,
                       push_by_default=True)  # fmt: skip
