from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkersConfig(AppConfig):
    name = "telemed.workers"
    label = "workers"
    verbose_name = _("Background workers")

    def ready(self):
        from telemed.notifications import kinds
        from telemed.observability.metrics import collector_register
        from telemed.workers.metrics import HeartbeatCollector, TaskQueueCollector
        from telemed.workers.services import NOTIFICATION_KIND

        kinds.register(NOTIFICATION_KIND, _("A background task failed"))
        collector_register(TaskQueueCollector())
        collector_register(HeartbeatCollector())
