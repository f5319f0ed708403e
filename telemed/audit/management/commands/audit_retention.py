"""Start the daily retention purge of the audit trail (idempotent; run once per deployment)."""

from django.core.management.base import BaseCommand

from telemed.audit import services


class Command(BaseCommand):
    help = "Schedule the daily purge of audit entries older than the retention period (at least 24 months)."

    def handle(self, *args, **options):
        started = services.audit_retention_schedule()
        months = services.audit_retention_months()
        state = "scheduled" if started else "already scheduled"
        self.stdout.write(f"Audit retention: {months} months; daily purge {state}.")
