"""What /metrics reads about reminders, at scrape time (telemed.observability.metrics): how far
behind the dispatchers are. The dispatchers' own liveness is their heartbeat
(``telemed_heartbeat_age_seconds{role="reminders"}``, telemed/workers)."""

from django.db.models import Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from telemed.reminders.models import Delivery, DeliveryStatus, Reminder


class DispatchLagCollector(Collector):
    def collect(self):
        lag = GaugeMetricFamily(
            "telemed_reminders_dispatch_lag_seconds",
            "Seconds since the oldest occurrence that is due and not yet delivered (0 when none waits).",
        )
        due = GaugeMetricFamily("telemed_reminders_due", "Occurrences due and not yet delivered.")
        now = timezone.now()
        # Not yet recorded (the reminder's next occurrence has come), or recorded and not yet sent.
        unrecorded = Reminder.objects.filter(next_fire_at__lte=now)
        unsent = Delivery.objects.filter(status=DeliveryStatus.PENDING, occurrence__lte=now)
        oldest = [
            unrecorded.aggregate(at=Min("next_fire_at"))["at"],
            unsent.aggregate(at=Min("occurrence"))["at"],
        ]
        waiting = [at for at in oldest if at is not None]
        lag.add_metric([], max(0.0, (now - min(waiting)).total_seconds()) if waiting else 0.0)
        due.add_metric([], unrecorded.count() + unsent.count())
        yield lag
        yield due
