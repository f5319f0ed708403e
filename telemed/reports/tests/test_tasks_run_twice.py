"""The delivery of a signed report, run twice (its worker died after delivering): one copy in
each box and one notification."""

import pytest

from telemed.boxes.models import Box, Document
from telemed.notifications.models import Notification
from telemed.reports import services

pytestmark = pytest.mark.django_db

CONTENT = services.ReportContent(diagnosis="Ipertensione arteriosa di grado 1", findings="PA 150/95.")


def test_the_signed_report_is_delivered_once(linked_pair, next_code, run_tasks_twice):
    doctor, patient = linked_pair()
    run_tasks_twice()
    report = services.report_create(actor=doctor, patient=patient, kind="report", content=CONTENT)
    services.report_sign(actor=doctor, report=report, code=next_code(doctor))
    assert "deliver_signed_report" in run_tasks_twice()
    for owner in (patient, doctor):
        assert Document.objects.filter(box=Box.objects.get(owner=owner)).count() == 1
    assert Notification.objects.filter(recipient=patient, kind="report_signed").count() == 1
    report.refresh_from_db()
    assert report.delivered_at is not None
