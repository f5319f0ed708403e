"""What /metrics reads about the background work, at scrape time (telemed.observability.metrics):
the task queue (django-tasks-db's table) and the age of each role's newest heartbeat."""

from django.db.models import Case, Count, F, Max, Min, Q, When
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from telemed.workers.models import Heartbeat
from telemed.workers.services import stale_before


class TaskQueueCollector(Collector):
    def collect(self):
        ready = GaugeMetricFamily(
            "telemed_tasks_ready", "Tasks ready to run and not yet claimed, by queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "telemed_tasks_oldest_ready_age_seconds",
            "Seconds since the oldest ready task could first have run, by queue (0 when none waits).",
            labels=["queue"],
        )
        running = GaugeMetricFamily("telemed_tasks_running", "Tasks claimed by a worker and not finished.")
        now = timezone.now()
        # A task that was not deferred could run from its enqueueing; a deferred one from its run_after.
        runnable_since = Case(When(run_after=get_date_max(), then=F("enqueued_at")), default=F("run_after"))
        rows = (
            DBTaskResult.objects.ready()
            .order_by()
            .values("queue_name")
            .annotate(count=Count("pk"), since=Min(runnable_since))
        )
        for row in rows:
            ready.add_metric([row["queue_name"]], row["count"])
            oldest.add_metric([row["queue_name"]], max(0.0, (now - row["since"]).total_seconds()))
        running.add_metric([], DBTaskResult.objects.running().count())
        yield ready
        yield oldest
        yield running


class HeartbeatCollector(Collector):
    def collect(self):
        age = GaugeMetricFamily(
            "telemed_heartbeat_age_seconds",
            "Seconds since the newest heartbeat of a role's processes (absent: none runs).",
            labels=["role"],
        )
        processes = GaugeMetricFamily(
            "telemed_heartbeat_processes", "Processes of a role whose heartbeat is fresh.", labels=["role"]
        )
        now = timezone.now()
        fresh = Q(beat_at__gte=stale_before(now))
        rows = (
            Heartbeat.objects.order_by().values("role").annotate(newest=Max("beat_at"), count=Count("pk", filter=fresh))
        )
        for row in rows:
            age.add_metric([row["role"]], max(0.0, (now - row["newest"]).total_seconds()))
            processes.add_metric([row["role"]], row["count"])
        yield age
        yield processes
