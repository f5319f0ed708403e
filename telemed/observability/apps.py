from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ObservabilityConfig(AppConfig):
    name = "telemed.observability"
    label = "observability"
    verbose_name = _("Metrics and logs")

    def ready(self):
        from django.core.signals import request_finished

        from telemed.observability import metrics, request_ids

        metrics.forget_dead_processes()
        request_finished.connect(request_ids.request_id_clear, dispatch_uid="telemed.request_id_clear")
