"""The directory's sweep, run twice (its worker died after sweeping): the second run finds its
token replaced, so it sweeps nothing and schedules no second chain."""

import pytest
from django_tasks_db.models import DBTaskResult

from telemed.directory import services
from telemed.directory.models import DirectoryEntry, DirectorySweep

pytestmark = pytest.mark.django_db


def test_the_sweep_sweeps_once_and_schedules_the_next_once(doctor_factory, run_tasks_twice, monkeypatch):
    run_tasks_twice()
    doctor = doctor_factory("Marco", "Bianchi", index=False)
    refreshes, refresh = [], services.directory_entries_refresh
    monkeypatch.setattr(services, "directory_entries_refresh", lambda **kw: refreshes.append(kw) or refresh(**kw))
    assert services.directory_sweep_schedule() is True
    assert run_tasks_twice() == ["directory_sweep"]
    assert len(refreshes) == 1  # one sweep, of one batch
    assert DirectoryEntry.objects.filter(doctor=doctor).count() == 1
    state = DirectorySweep.objects.get(pk=1)
    waiting = DBTaskResult.objects.filter(task_path="telemed.directory.tasks.directory_sweep", status="READY")
    assert [str(pk) for pk in waiting.values_list("pk", flat=True)] == [state.task_id]  # one chain
