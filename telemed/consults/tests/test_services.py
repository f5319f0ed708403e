import datetime
import io
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django_tasks_db.models import DBTaskResult

from telemed.billing.models import BillableService
from telemed.consults import deadlines, info_requests, selectors, services
from telemed.consults.models import Consult, ConsultStatus, InfoRequest, InfoStatus
from telemed.consults.tests.conftest import pdf_bytes, welbox_document, welbox_study

pytestmark = pytest.mark.django_db
ROME = ZoneInfo("Europe/Rome")


def draft(kind="base", question="Ho dolore al petto da due giorni.", **fields):
    fields.setdefault("accepted_terms", True)
    fields.setdefault("idempotency_key", uuid.uuid4())
    return services.ConsultDraft(kind=kind, question=question, **fields)


def ask(patient, doctor, kind="base", **fields) -> Consult:
    consult, created = services.consult_request(
        actor=patient, doctor=doctor.doctor_profile, draft=draft(kind, **fields)
    )
    assert created
    return consult


# --- the transition function: every pair of states ----------------------------------------------

ALLOWED = {
    ("requested", "in_progress"), ("requested", "declined"), ("requested", "cancelled"), ("requested", "expired"),
    ("in_progress", "answered"), ("in_progress", "declined"), ("in_progress", "cancelled"),
    ("answered", "closed"),
}  # fmt: skip


@pytest.mark.parametrize("source", ConsultStatus.values)
@pytest.mark.parametrize("target", ConsultStatus.values)
def test_every_transition_is_allowed_or_refused_with_a_clear_message(source, target):
    consult = Consult(status=source)
    if (source, target) in ALLOWED:
        services.consult_transition(consult, target)
        assert consult.status == target
    else:
        with pytest.raises(ValidationError, match="cannot become"):
            services.consult_transition(consult, target)
        assert consult.status == source


# --- requesting ---------------------------------------------------------------------------------


def test_a_request_stores_the_accepted_price_and_deadline_and_schedules_the_watch(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    document = welbox_document(patient)
    consult = ask(patient, doctor, document_ids=(document.pk,))
    assert consult.status == ConsultStatus.REQUESTED
    assert consult.patient_total == Decimal(consult.breakdown["patient_total"]) > Decimal("50.00")
    assert consult.breakdown["kind"] == "base"
    tasks = {
        r.task_path.rsplit(".", 1)[-1]: r
        for r in DBTaskResult.objects.filter(task_path__startswith="telemed.consults.tasks")
    }
    assert set(tasks) == {"remind_doctor", "deadline_passed", "expire_if_untouched"}
    assert tasks["deadline_passed"].run_after == consult.deadline
    assert tasks["remind_doctor"].run_after < consult.deadline
    assert tasks["expire_if_untouched"].run_after == consult.deadline + services.EXPIRY_GRACE
    # The doctor reads the attachment through the share the request made.
    from telemed.boxes.selectors import document_get_for_user

    assert document_get_for_user(doctor, document.pk) == document


def test_the_same_form_sent_twice_stores_one_consult(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    same = draft(idempotency_key=uuid.uuid4())
    first, created = services.consult_request(actor=patient, doctor=doctor.doctor_profile, draft=same)
    again, created_again = services.consult_request(actor=patient, doctor=doctor.doctor_profile, draft=same)
    assert created and not created_again and first.pk == again.pk
    assert Consult.objects.count() == 1
    assert DBTaskResult.objects.filter(task_path__endswith="deadline_passed").count() == 1


def test_a_kind_the_doctor_does_not_offer_is_refused(consult_doctor, make_patient):
    doctor, patient = consult_doctor(priority=None), make_patient()
    with pytest.raises(ValidationError, match="does not offer"):
        ask(patient, doctor, "priority")
    with pytest.raises(ValidationError, match="kind of consult"):
        ask(patient, doctor, "video")
    assert not Consult.objects.exists()


def test_terms_must_be_accepted_and_a_changed_price_is_refused(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    with pytest.raises(ValidationError, match="Accept the cost"):
        ask(patient, doctor, accepted_terms=False)
    with pytest.raises(ValidationError, match="changed the price"):
        ask(patient, doctor, shown_tariff_id=999999)
    assert not Consult.objects.exists()


def test_attachments_and_studies_must_be_the_patients_own(consult_doctor, make_patient):
    doctor, patient, other = consult_doctor(), make_patient(), make_patient()
    foreign_document, foreign_study = welbox_document(other), welbox_study(other)
    with pytest.raises(ValidationError, match="not a document of yours"):
        ask(patient, doctor, document_ids=(foreign_document.pk,))
    with pytest.raises(ValidationError, match="not yours"):
        ask(patient, doctor, "imaging", study_ids=(foreign_study.pk,))
    with pytest.raises(ValidationError, match="needs at least one study"):
        ask(patient, doctor, "imaging")
    with pytest.raises(ValidationError, match="radiology images"):
        ask(patient, doctor, "base", study_ids=(welbox_study(patient).pk,))
    assert not Consult.objects.exists()


def test_an_imaging_consult_shares_its_studies_with_the_doctor(consult_doctor, make_patient):
    from telemed.dicom.selectors import study_get_for_user

    doctor, patient = consult_doctor(), make_patient()
    study = welbox_study(patient)
    consult = ask(patient, doctor, "priority", study_ids=(study.pk,))
    assert selectors.consult_studies(consult, viewer=doctor) == [study]
    assert study_get_for_user(doctor, study.pk) == study


def test_a_study_that_went_with_a_consult_cannot_be_deleted_and_nothing_changes(consult_doctor, make_patient):
    from telemed.audit.models import AuditEntry
    from telemed.boxes.models import Box
    from telemed.dicom import services as dicom_services
    from telemed.dicom.models import Study

    doctor, patient = consult_doctor(), make_patient()
    study = welbox_study(patient)
    ask(patient, doctor, "priority", study_ids=(study.pk,))
    box, audit = Box.objects.get(owner=patient), AuditEntry.objects.count()
    with pytest.raises(ValidationError, match="went with a consult"):
        dicom_services.study_delete(actor=patient, study=study)
    assert Study.objects.filter(pk=study.pk).exists() and AuditEntry.objects.count() == audit
    assert Box.objects.get(pk=box.pk).used_bytes == box.used_bytes


def test_oversized_and_unsupported_uploads_are_refused_and_nothing_is_stored(consult_doctor, make_patient, monkeypatch):
    from telemed.boxes.models import Box, Document

    doctor, patient = consult_doctor(), make_patient()
    script = b"<html><script>alert(1)</script></html>"
    with pytest.raises(ValidationError, match="not a file a consult accepts"):
        ask(patient, doctor, uploads=(services.UploadedFile("pagina.html", io.BytesIO(script), len(script)),))
    monkeypatch.setattr(services, "UPLOAD_MAX_BYTES", 100)
    data = pdf_bytes()
    with pytest.raises(ValidationError, match="larger than"):
        ask(patient, doctor, uploads=(services.UploadedFile("esame.pdf", io.BytesIO(data), len(data)),))
    assert not Consult.objects.exists() and not Document.objects.exists()
    assert Box.objects.filter(owner=patient, reserved_bytes=0, used_bytes=0).count() <= 1


def test_an_uploaded_file_lands_in_the_welbox_and_goes_with_the_consult(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    data = pdf_bytes()
    consult = ask(patient, doctor, uploads=(services.UploadedFile("referto.pdf", io.BytesIO(data), len(data)),))
    [attachment] = selectors.consult_request_attachments(consult, viewer=doctor)
    assert attachment.document.box.owner == patient and attachment.mime == "application/pdf"


# --- working the consult --------------------------------------------------------------------------


def test_only_the_consults_doctor_works_it(consult_doctor, make_patient):
    doctor, stranger, patient = consult_doctor(), consult_doctor(), make_patient()
    consult = ask(patient, doctor)
    for action in (services.consult_start, lambda **kw: services.consult_decline(reason="no", **kw)):
        with pytest.raises(PermissionDenied):
            action(actor=stranger, consult=consult)
        with pytest.raises(PermissionDenied):
            action(actor=patient, consult=consult)
    with pytest.raises(PermissionDenied):
        services.consult_cancel(actor=stranger, consult=consult)


def test_decline_needs_a_reason_and_ends_the_consult(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    consult = ask(patient, doctor)
    with pytest.raises(ValidationError, match="why you decline"):
        services.consult_decline(actor=doctor, consult=consult, reason="  ")
    consult = services.consult_decline(actor=doctor, consult=consult, reason="Serve una visita in presenza.")
    assert consult.status == ConsultStatus.DECLINED
    with pytest.raises(ValidationError, match="cannot become"):
        services.consult_start(actor=doctor, consult=consult)
    with pytest.raises(ValidationError, match="thread is closed"):
        services.consult_message_send(actor=patient, consult=consult, text="Perché?")


def test_the_patient_cancels_before_work_starts_but_not_after_unless_overdue(consult_doctor, make_patient, frozen):
    doctor, patient = consult_doctor(), make_patient()
    consult = ask(patient, doctor)
    assert services.consult_cancel(actor=patient, consult=consult).status == ConsultStatus.CANCELLED

    consult = ask(patient, doctor)
    services.consult_start(actor=doctor, consult=consult)
    with pytest.raises(ValidationError, match="already working"):
        services.consult_cancel(actor=patient, consult=consult)
    frozen(consult.deadline + datetime.timedelta(minutes=1))
    assert deadlines.consult_deadline_passed(consult_id=consult.pk)
    assert not deadlines.consult_deadline_passed(consult_id=consult.pk)  # told once
    assert services.consult_cancel(actor=patient, consult=consult).status == ConsultStatus.CANCELLED
    assert not BillableService.objects.exists()


def test_a_consult_cannot_be_answered_without_a_signed_report(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    consult = ask(patient, doctor)
    with pytest.raises(ValidationError, match="cannot become"):
        services.consult_answer(actor=doctor, consult=consult)
    services.consult_start(actor=doctor, consult=consult)
    with pytest.raises(ValidationError, match="write it first"):
        services.consult_answer(actor=doctor, consult=consult)
    services.consult_report_start(actor=doctor, consult=consult)
    with pytest.raises(ValidationError, match="code from your signing app"):
        services.consult_answer(actor=doctor, consult=consult, code="")
    consult.refresh_from_db()
    assert consult.status == ConsultStatus.IN_PROGRESS and not BillableService.objects.exists()


def test_thread_answer_with_a_signed_report_bills_and_closes(signing_doctor, make_patient, next_code, run_tasks):
    from telemed.boxes.models import Document
    from telemed.consults.tests.conftest import offer_consults
    from telemed.reports import services as reports

    doctor = signing_doctor()
    offer_consults(doctor)
    patient = make_patient()
    consult = ask(patient, doctor, "priority")
    services.consult_message_send(actor=doctor, consult=consult, text="Da quanto tempo?")
    mine = welbox_document(patient, name="ecg.pdf")
    services.consult_message_send(
        actor=patient, consult=consult, text="Due giorni, ecco l'ECG.", document_ids=[mine.pk]
    )
    services.consult_start(actor=doctor, consult=consult)
    consult = services.consult_report_start(actor=doctor, consult=consult)
    reports.report_update(
        actor=doctor, report=consult.report, content=reports.ReportContent(diagnosis="Dolore toracico atipico")
    )
    consult = services.consult_answer(actor=doctor, consult=consult, code=next_code(doctor))
    assert consult.status == ConsultStatus.ANSWERED and consult.report.status == "signed"
    service = BillableService.objects.get(source_key=f"consult:{consult.pk}")
    assert service.kind == "priority" and service.patient_total == consult.patient_total
    run_tasks()
    assert Document.objects.filter(box__owner=patient, category="report").exists()
    with pytest.raises(ValidationError, match="cannot become"):
        services.consult_answer(actor=doctor, consult=consult)
    assert services.consult_close(actor=patient, consult=consult).status == ConsultStatus.CLOSED
    assert BillableService.objects.count() == 1


def test_signing_the_answer_in_the_editor_answers_the_consult(signing_doctor, make_patient, next_code):
    """The draft of a consult is signed only as its answer: the reports app alone refuses it,
    and the consult's answer saves the editor's content, signs, answers and bills in one action."""
    from telemed.consults.tests.conftest import offer_consults
    from telemed.reports import services as reports

    doctor = signing_doctor()
    offer_consults(doctor)
    consult = ask(make_patient(), doctor)
    services.consult_start(actor=doctor, consult=consult)
    consult = services.consult_report_start(actor=doctor, consult=consult, kind="prescription")
    assert consult.report.sign_url == f"/consults/{consult.pk}/answer"
    content = reports.ReportContent(diagnosis="Ipertensione", therapy=(reports.TherapyLine(drug="Ramipril 5 mg"),))
    reports.report_update(actor=doctor, report=consult.report, content=content)
    with pytest.raises(ValidationError, match="sign it from its page"):
        reports.report_sign(actor=doctor, report=consult.report, code=next_code(doctor))
    consult.report.refresh_from_db()
    assert consult.report.status == "draft"
    consult = services.consult_answer(
        actor=doctor, consult=consult, code=next_code(doctor),
        content=reports.ReportContent(diagnosis="Ipertensione arteriosa", therapy=content.therapy),
    )  # fmt: skip
    assert consult.status == ConsultStatus.ANSWERED and consult.answered_at is not None
    assert consult.report.status == "signed" and consult.report.diagnosis == "Ipertensione arteriosa"
    assert BillableService.objects.filter(source_key=f"consult:{consult.pk}").count() == 1


# --- deadlines with the consult's own clock ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kind", "due"),
    [
        # Friday afternoon, 2 working days: over the weekend to Tuesday, same wall-clock time.
        (
            datetime.datetime(2026, 11, 27, 16, 0, tzinfo=ROME),
            "base",
            datetime.datetime(2026, 12, 1, 16, 0, tzinfo=ROME),
        ),
        # Christmas Eve: 25 and 26 December are holidays, then a Sunday.
        (
            datetime.datetime(2026, 12, 24, 15, 0, tzinfo=ROME),
            "base",
            datetime.datetime(2026, 12, 29, 15, 0, tzinfo=ROME),
        ),
        # Easter Saturday: counting starts at 00:00 of Tuesday (Easter Monday is a holiday).
        (datetime.datetime(2026, 4, 4, 9, 0, tzinfo=ROME), "base", datetime.datetime(2026, 4, 9, 0, 0, tzinfo=ROME)),
        # Working days across the spring change: 10:00 stays 10:00.
        (
            datetime.datetime(2026, 3, 27, 10, 0, tzinfo=ROME),
            "base",
            datetime.datetime(2026, 3, 31, 10, 0, tzinfo=ROME),
        ),
        # 24 hours across the spring change are 24 real hours: 11:00 on the wall.
        (
            datetime.datetime(2026, 3, 28, 10, 0, tzinfo=ROME),
            "priority",
            datetime.datetime(2026, 3, 29, 11, 0, tzinfo=ROME),
        ),
        # And across the autumn change: 09:00 on the wall.
        (
            datetime.datetime(2026, 10, 24, 10, 0, tzinfo=ROME),
            "priority",
            datetime.datetime(2026, 10, 25, 9, 0, tzinfo=ROME),
        ),
    ],
)
def test_the_deadline_the_patient_accepts_is_the_one_stored(consult_doctor, make_patient, frozen, sent, kind, due):
    frozen(sent)
    doctor, patient = consult_doctor(), make_patient()
    [offer] = [o for o in services.consult_offers(doctor.doctor_profile) if o.kind == kind]
    assert offer.deadline == due
    consult = ask(patient, doctor, kind)
    assert consult.accepted_at == sent and consult.deadline == due
    reminder = DBTaskResult.objects.get(task_path__endswith="remind_doctor")
    real = due.astimezone(datetime.UTC) - sent.astimezone(datetime.UTC)  # elapsed time, not wall clocks
    assert reminder.run_after == due.astimezone(datetime.UTC) - min(services.REMINDER_LEAD, real / 2)


def test_reminder_expiry_and_overdue_list(consult_doctor, make_patient, frozen, admin_user):
    from telemed.notifications.models import Notification

    doctor, patient = consult_doctor(), make_patient()
    consult = ask(patient, doctor)
    assert deadlines.consult_remind_doctor(consult_id=consult.pk)
    assert Notification.objects.filter(recipient=doctor, kind="consult_deadline").exists()
    assert not deadlines.consult_expire(consult_id=consult.pk)  # not yet
    assert list(selectors.consults_overdue(admin_user)) == []
    frozen(consult.deadline + datetime.timedelta(hours=1))
    assert list(selectors.consults_overdue(admin_user)) == [consult]
    assert list(selectors.consults_overdue(patient)) == []
    frozen(consult.deadline + services.EXPIRY_GRACE + datetime.timedelta(minutes=1))
    assert deadlines.consult_expire(consult_id=consult.pk)
    consult.refresh_from_db()
    assert consult.status == ConsultStatus.EXPIRED
    assert not deadlines.consult_remind_doctor(consult_id=consult.pk)


def test_the_queue_puts_priority_first_then_by_deadline(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    base = ask(patient, doctor, "base")
    priority = ask(patient, doctor, "priority")
    imaging = ask(patient, doctor, "imaging", study_ids=(welbox_study(patient).pk,))
    assert list(selectors.consult_queue_for_doctor(doctor)) == [priority, base, imaging]


# --- Info requests ------------------------------------------------------------------------------------


def test_info_lands_with_the_secretaries_or_the_doctor(consult_doctor, make_patient, make_secretary):
    from telemed.notifications.models import Notification

    doctor, alone, patient = consult_doctor(), consult_doctor(), make_patient()
    secretary = make_secretary(doctor)
    key = uuid.uuid4()
    info = info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text="Orari dello studio?", idempotency_key=key
    )
    assert (
        info_requests.info_request_send(actor=patient, doctor=doctor.doctor_profile, text="Orari?", idempotency_key=key)
        == info
    )
    assert InfoRequest.objects.count() == 1
    assert Notification.objects.filter(recipient=secretary, kind="info_request").exists()
    assert not Notification.objects.filter(recipient=doctor, kind="info_request").exists()
    info_requests.info_request_send(
        actor=patient, doctor=alone.doctor_profile, text="Come prenoto?", idempotency_key=uuid.uuid4()
    )
    assert Notification.objects.filter(recipient=alone, kind="info_request").exists()
    assert list(selectors.info_inbox(secretary, doctor.doctor_profile)) == [info]


def test_a_secretary_acts_only_for_their_doctors(consult_doctor, make_patient, make_secretary):
    doctor, other, patient = consult_doctor(), consult_doctor(), make_patient()
    secretary = make_secretary(other)
    info = info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text="Orari?", idempotency_key=uuid.uuid4()
    )
    with pytest.raises(PermissionDenied):
        info_requests.info_request_answer(actor=secretary, info=info, answer="9-13")
    with pytest.raises(PermissionDenied):
        info_requests.info_request_reject(actor=secretary, info=info)
    from django.http import Http404

    with pytest.raises(Http404):
        selectors.info_inbox(secretary, doctor.doctor_profile)
    info.refresh_from_db()
    assert info.status == InfoStatus.OPEN


def test_an_answered_info_cannot_be_rejected(consult_doctor, make_patient, make_secretary):
    doctor, patient = consult_doctor(), make_patient()
    secretary = make_secretary(doctor)
    info = info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text="Orari?", idempotency_key=uuid.uuid4()
    )
    info_requests.info_request_answer(actor=secretary, info=info, answer="Dal lunedì al venerdì, 9-13.")
    with pytest.raises(ValidationError, match="already been handled"):
        info_requests.info_request_reject(actor=secretary, info=info)


def test_the_rejection_email_reaches_a_real_smtp_server_with_a_prefilled_consult_link(
    consult_doctor, make_patient, make_secretary, smtp_settings, run_tasks, client
):
    from telemed.consults.tests.conftest import login

    doctor, patient = consult_doctor(), make_patient(email="paziente.info@example.test", language="en")
    secretary = make_secretary(doctor)
    text = "Ho la pressione a 160/100, devo aumentare il farmaco?"
    info = info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text=text, idempotency_key=uuid.uuid4()
    )
    info_requests.info_request_reject(actor=secretary, info=info)
    run_tasks()
    message = smtp_settings.wait_for("paziente.info@example.test", "consult")
    body = message.get_content()
    assert "cannot treat your request as medical advice" in body
    assert text not in body and text not in message["Subject"]  # no clinical content in an e-mail
    link = next(line.strip() for line in body.splitlines() if "/consults/new/" in line)
    assert link.endswith(f"/consults/new/{doctor.doctor_profile.slug}/?info={info.pk}")
    path = link[link.index("/consults/") :]
    response = login(client, patient).get(path)
    assert response.status_code == 200
    assert text in response.content.decode()
    assert not mail.outbox  # it went through SMTP, not the locmem backend


def test_a_patient_erasing_the_account_withdraws_open_consults_and_questions_and_keeps_ended_ones(
    consult_doctor, make_patient
):
    from telemed.notifications.models import Notification

    doctor, patient = consult_doctor(), make_patient()
    waiting, started, ended = ask(patient, doctor), ask(patient, doctor), ask(patient, doctor)
    Consult.objects.filter(pk=started.pk).update(status=ConsultStatus.IN_PROGRESS)
    Consult.objects.filter(pk=ended.pk).update(status=ConsultStatus.EXPIRED)
    info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text="Orari?", idempotency_key=uuid.uuid4()
    )

    assert services.consults_withdraw_of_patient(patient=patient) == (2, 1)
    assert {c.pk: c.status for c in Consult.objects.filter(patient=patient)} == {
        waiting.pk: "cancelled",
        started.pk: "cancelled",
        ended.pk: "expired",
    }
    assert not InfoRequest.objects.filter(patient=patient).exists()
    assert Notification.objects.filter(recipient=doctor, title__contains="withdrew").count() == 2
    assert services.consults_withdraw_of_patient(patient=patient) == (0, 0)  # a second run changes nothing
