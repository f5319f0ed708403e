"""enqueue_many writes the rows enqueue() would, in one insert."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from telemed.lib.task_batches import enqueue_many
from telemed.notifications import tasks

pytestmark = pytest.mark.django_db

COMPARED = ("status", "args_kwargs", "priority", "task_path", "queue_name", "run_after", "backend_name")


def row(result_id) -> dict:
    return DBTaskResult.objects.filter(pk=result_id).values(*COMPARED).get()


def test_the_rows_are_those_enqueue_writes_and_a_worker_sees_them_ready():
    one = tasks.send_notification_emails.enqueue(notification_ids=[7])
    with CaptureQueriesContext(connection) as queries:
        assert enqueue_many(tasks.send_notification_emails, [{"notification_ids": [7]}, {"notification_ids": [8]}]) == 2
    assert len([q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")]) == 1
    many = DBTaskResult.objects.exclude(pk=one.id).order_by("args_kwargs")
    assert [row(r.pk) for r in many][0] == row(one.id)
    assert {r.pk for r in DBTaskResult.objects.ready()} == {r.pk for r in DBTaskResult.objects.all()}


def test_nothing_to_enqueue_writes_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert enqueue_many(tasks.send_notification_emails, []) == 0
    assert queries.captured_queries == []
