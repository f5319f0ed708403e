"""Rebuild the directory's search entries: all of them, or those changed since a moment.

    manage.py directory_reindex                      # every doctor
    manage.py directory_reindex --since 2026-05-01T08:00
    manage.py directory_reindex --since 2h           # changed in the last two hours

It also makes sure the periodic sweep that keeps the entries fresh is scheduled
(``--no-schedule`` to leave it alone).
"""

import datetime
import re

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from telemed.directory import services

RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> datetime.datetime:
    if match := RELATIVE.match(value.strip()):
        return timezone.now() - datetime.timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--since: {value!r} is neither a date-time (2026-05-01T08:00) nor a duration (30m, 2h, 1d)")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = "Rebuild the directory's search entries (all, or those changed since a moment)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="only doctors changed after this date-time or this long ago (30m, 2h, 1d)")
        parser.add_argument("--batch-size", type=int, default=services.BATCH_SIZE)
        parser.add_argument("--no-schedule", action="store_true", help="do not (re)start the periodic sweep")

    def handle(self, *args, since, batch_size, no_schedule, **options):
        moment = parse_since(since) if since else None
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        written = services.directory_reindex(since=moment, batch_size=batch_size)
        what = f"changed since {moment.isoformat()}" if moment else "all doctors"
        self.stdout.write(f"Directory: {written} entr{'y' if written == 1 else 'ies'} rebuilt ({what}).")
        if not no_schedule and services.directory_sweep_schedule():
            self.stdout.write("Directory: the periodic sweep is scheduled.")
