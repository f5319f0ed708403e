"""Start the daily retention sweep (idempotent; run once per deployment)."""

from django.core.management.base import BaseCommand

from telemed.rights import retention


class Command(BaseCommand):
    help = "Schedule the daily sweep that applies every retention rule (telemed/rights/retention.py)."

    def handle(self, *args, **options):
        started = retention.retention_schedule()
        self.stdout.write(f"Retention sweep {'scheduled' if started else 'already scheduled'}.")
