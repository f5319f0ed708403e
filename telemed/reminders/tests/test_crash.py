"""A real task worker killed with SIGKILL at random points while it e-mails reminders to the
real test SMTP server, again and again.

What the design guarantees (telemed/outbox/smtp.py): the e-mail is recorded as sent in the
commit written right behind the final "." of the SMTP conversation, so a kill before the "."
leaves the server nothing, and one after the commit leaves the server the whole message. A kill
in the microseconds between those two writes repeats the e-mail on the next run, with the same
Message-ID. Every reminder reaches the server, once but for such a repeat, and none is lost."""

import collections
import os
import random
import re
import time

from django_tasks_db.models import DBTaskResult

from conftest import CRASH_TEST_MARKS, database_url_for_subprocesses, process_stop, task_worker_process
from telemed.reminders import dispatch, services
from telemed.reminders.models import Delivery
from telemed.reminders.tests.test_dispatch import _make_due, create, daily

pytestmark = CRASH_TEST_MARKS

EMAILS = 60
KILLS = 3


def test_reminder_emails_survive_their_worker_killed_at_random_points(make_patient, smtp_server, tmp_path):
    import datetime as dt

    from django.utils import timezone

    patients = [make_patient(email=f"p{n}@example.test", language="en") for n in range(3)]
    DBTaskResult.objects.all().delete()  # the registration e-mails are not what this test is about
    for patient in patients:
        services.agenda_email_set(actor=patient, choice=services.EmailChoice.DETAILS)
    past = (timezone.localtime() - dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    reminders = [
        create(patients[n % 3], patients[n % 3], daily(past.strftime("%H:%M"), start=past.date() - dt.timedelta(days=1)),
               title=f"Promemoria {n:03d}")
        for n in range(EMAILS)
    ]  # fmt: skip
    _make_due(reminders)
    while dispatch.record_due() or dispatch.send_pending():
        pass
    assert DBTaskResult.objects.filter(task_path__endswith="send_reminder_details").count() == EMAILS

    env = {
        **os.environ, "DATABASE_URL": database_url_for_subprocesses(), "DATABASE_POOL": "false",
        "TELEMED_VAR_DIR": str(tmp_path), "EMAIL_URL": smtp_server.url, "TELEMED_HEARTBEAT_INTERVAL": "0.2",
        "TELEMED_HEARTBEAT_STALE_AFTER": "1", "TELEMED_TASK_MAX_ATTEMPTS": str(KILLS + 2),
    }  # fmt: skip
    kills, worker = 0, None
    try:
        deadline = time.monotonic() + 50
        while Delivery.objects.filter(reminder__in=reminders, emailed_at__isnull=True).exists() or (
            DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).exists()
        ):
            assert time.monotonic() < deadline, len(smtp_server.messages)
            if worker is None or worker.poll() is not None:
                worker, received = task_worker_process(env), len(smtp_server.messages)
            if kills < KILLS and len(smtp_server.messages) > received:
                time.sleep(random.uniform(0, 0.2))  # somewhere among the e-mails
                worker.kill()
                worker.wait()
                kills, worker = kills + 1, None
                continue
            time.sleep(0.02)
    finally:
        process_stop(worker)
    assert 1 <= kills <= KILLS  # a quiet machine may send the last e-mails before the next kill
    copies = collections.defaultdict(list)  # each reminder's title: the Message-IDs of its e-mails
    for message in smtp_server.messages:
        copies[re.search(r"Promemoria \d{3}", message["Subject"]).group()].append(message["Message-ID"])
    assert sorted(copies) == [f"Promemoria {n:03d}" for n in range(EMAILS)]  # none lost
    assert all(len(set(ids)) == 1 for ids in copies.values())  # a repeat is the same message again
    assert sum(len(ids) - 1 for ids in copies.values()) <= kills  # a repeat needs a kill between two writes
    assert not DBTaskResult.objects.exclude(status="SUCCESSFUL").exists()
