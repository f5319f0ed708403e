"""Each kind of data has one retention rule (rights/retention.py), docs/PRIVACY.md lists the same
rules, and the daily sweep applies them, once per run, as one chain."""

import datetime
import pathlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from telemed.notifications.models import Notification
from telemed.notifications.services import notify
from telemed.rights import retention
from telemed.rights.models import DataExport, ErasureRequest, RetentionRun

pytestmark = pytest.mark.django_db

ROOT = pathlib.Path(__file__).resolve().parents[3]
PRIVACY = ROOT / "docs" / "PRIVACY.md"


def test_privacy_md_lists_the_rules_of_the_retention_module():
    text = PRIVACY.read_text()
    start, end = text.index(retention.TABLE_START), text.index(retention.TABLE_END)
    table = text[start + len(retention.TABLE_START) : end].strip()
    assert table == retention.rules_table(), (
        "docs/PRIVACY.md's retention table differs from telemed/rights/retention.py; paste this one:\n"
        + retention.rules_table()
    )


def test_the_module_docstring_states_every_rule():
    kinds = [rule.kind for rule in retention.RULES]
    assert len(kinds) == len(set(kinds))
    for kind in kinds:
        assert f"``{kind}``" in retention.__doc__, kind


def test_the_sweep_removes_what_is_past_its_period_and_nothing_younger(
    make_patient, files_in_tmp, django_capture_on_commit_callbacks
):
    patient = make_patient()
    old_note, new_note = (notify(recipient=patient, kind="x", title=title) for title in ("old", "new"))
    Notification.objects.filter(pk=old_note.pk).update(created_at=timezone.now() - datetime.timedelta(days=400))
    export = DataExport.objects.create(user=patient, state="ready")
    name = default_storage.save(f"private/exports/{patient.pk}/old.zip", ContentFile(b"zip"))
    DataExport.objects.filter(pk=export.pk).update(
        file_name=name, created_at=timezone.now() - datetime.timedelta(days=8)
    )
    lapsed = ErasureRequest.objects.create(user=patient)
    ErasureRequest.objects.filter(pk=lapsed.pk).update(asked_at=timezone.now() - datetime.timedelta(days=3))

    with django_capture_on_commit_callbacks(execute=True):
        removed = retention.retention_apply()
    assert removed["notifications"] == 1 and removed["data_exports"] == 1 and removed["erasure_requests"] == 1
    assert list(Notification.objects.filter(recipient=patient)) == [new_note]
    assert not DataExport.objects.exists() and not default_storage.exists(name)
    assert ErasureRequest.objects.get(pk=lapsed.pk).state == "cancelled"
    assert set(retention.retention_apply().values()) == {0}  # applied again: nothing more


def test_the_sweep_run_twice_keeps_one_chain(run_tasks_twice):
    assert retention.retention_schedule()
    assert not retention.retention_schedule()  # one chain at a time
    first = RetentionRun.objects.get().task_id
    assert run_tasks_twice() == ["retention_sweep"]
    waiting = DBTaskResult.objects.filter(task_path__endswith="retention_sweep", status="READY")
    assert waiting.count() == 1
    assert str(waiting.get().pk) == RetentionRun.objects.get().task_id != first
