"""The consult's scheduled tasks, run twice, notify once."""

import pytest
from django_tasks_db.models import DBTaskResult

from telemed.consults.tests.test_services import ask
from telemed.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_the_deadline_reminder_is_sent_once(consult_doctor, make_patient, run_tasks_twice):
    doctor, patient = consult_doctor(), make_patient()
    ask(patient, doctor)
    # Due now, as if its time had come; the other scheduled tasks stay where they are.
    from django.utils import timezone

    DBTaskResult.objects.filter(task_path__endswith="remind_doctor").update(run_after=timezone.now())
    assert "remind_doctor" in run_tasks_twice()
    assert Notification.objects.filter(recipient=doctor, kind="consult_deadline").count() == 1


def test_past_the_deadline_the_patient_is_told_once_and_the_consult_expires_once(
    consult_doctor, make_patient, frozen, run_tasks_twice
):
    import datetime

    from telemed.consults import services
    from telemed.consults.models import ConsultStatus

    doctor, patient = consult_doctor(), make_patient()
    consult = ask(patient, doctor)
    run_tasks_twice()  # what is due now (the e-mails of registration)
    frozen(consult.deadline + services.EXPIRY_GRACE + datetime.timedelta(minutes=1))
    DBTaskResult.objects.filter(task_path__endswith="remind_doctor").delete()
    ran = run_tasks_twice()
    assert {"deadline_passed", "expire_if_untouched"} <= set(ran)
    assert Notification.objects.filter(recipient=patient, kind="consult_deadline").count() <= 1
    assert Notification.objects.filter(recipient=patient, title__icontains="expired").count() == 1
    consult.refresh_from_db()
    assert consult.status == ConsultStatus.EXPIRED


def test_the_info_rejection_email_is_sent_once(consult_doctor, make_patient, run_tasks_twice):
    import uuid

    from django.core import mail

    from telemed.consults import info_requests

    doctor, patient = consult_doctor(), make_patient()
    info = info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text="Orari?", idempotency_key=uuid.uuid4()
    )
    run_tasks_twice()
    mail.outbox.clear()
    info_requests.info_request_reject(actor=doctor, info=info)
    assert "send_info_rejected" in run_tasks_twice()
    # The rejection e-mail (and the notice of the in-app notification), each once.
    sent = [(m.to[0], m.subject) for m in mail.outbox]
    assert sent and len(set(sent)) == len(sent) and {to for to, _s in sent} == {patient.email}
