"""The daily purge, run twice, purges and schedules its successor once: one chain only."""

import pytest
from django_tasks_db.models import DBTaskResult

from telemed.audit.models import AuditRetention
from telemed.audit.services import audit_retention_schedule

pytestmark = pytest.mark.django_db


def test_the_purge_run_twice_keeps_one_chain(run_tasks_twice):
    assert audit_retention_schedule()
    first = AuditRetention.objects.get().task_id
    assert run_tasks_twice() == ["audit_retention_purge_task"]
    waiting = DBTaskResult.objects.filter(task_path__endswith="audit_retention_purge_task", status="READY")
    assert waiting.count() == 1
    assert str(waiting.get().pk) == AuditRetention.objects.get().task_id != first
