import io
import subprocess

import blake3
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.urls import reverse

from conftest import log_in
from telemed.reports import selectors, services
from telemed.reports.models import Report, ReportStatus
from telemed.reports.tests.conftest import link
from telemed.signatures.models import SignatureRecord

pytestmark = pytest.mark.django_db

CONTENT = services.ReportContent(
    diagnosis="Ipertensione arteriosa di grado 1",
    findings="PA 150/95 in tre misurazioni.",
    therapy=(
        services.TherapyLine(drug="Ramipril 5 mg", dose="1 compressa", schedule="al mattino", duration="30 giorni"),
    ),
)


def _report(doctor, patient, kind="report", content=CONTENT):
    return services.report_create(actor=doctor, patient=patient, kind=kind, content=content)


# --- drafts ---------------------------------------------------------------------------------


def test_a_doctor_writes_only_for_linked_patients(signing_doctor, make_patient):
    doctor, stranger = signing_doctor(), make_patient()
    with pytest.raises(ValidationError, match="accepted a link"):
        _report(doctor, stranger)
    link(doctor, stranger)
    assert _report(doctor, stranger).status == ReportStatus.DRAFT


def test_patients_and_other_roles_cannot_write(linked_pair, make_patient):
    doctor, patient = linked_pair()
    with pytest.raises(PermissionDenied):
        services.report_create(actor=patient, patient=patient, kind="report")


def test_drafts_autosave_and_only_their_doctor_sees_them(linked_pair, signing_doctor, client):
    doctor, patient = linked_pair()
    report = _report(doctor, patient, content=services.ReportContent())
    log_in(client, doctor)
    data = {
        "diagnosis": "Cefalea tensiva", "findings": "", "notes": "", "nre": "", "nre_pin": "",
        "therapy-TOTAL_FORMS": "1", "therapy-INITIAL_FORMS": "0",
        "therapy-0-drug": "Paracetamolo 1000 mg", "therapy-0-dose": "1", "therapy-0-schedule": "al bisogno", "therapy-0-duration": "",
    }  # fmt: skip
    response = client.post(reverse("reports:autosave", args=[report.public_id]), data)
    assert response.status_code == 200 and response.json()["ok"]
    report.refresh_from_db()
    assert report.diagnosis == "Cefalea tensiva"
    assert [t.drug for t in report.therapy.all()] == ["Paracetamolo 1000 mg"]

    log_in(client, signing_doctor())
    assert client.post(reverse("reports:autosave", args=[report.public_id]), data).status_code == 404
    log_in(client, patient)
    assert client.get(reverse("reports:detail", args=[report.public_id])).status_code == 404


def test_bad_draft_input_is_refused_with_a_message_and_changes_nothing(linked_pair, client):
    doctor, patient = linked_pair()
    report = _report(doctor, patient, kind="prescription")
    bad = services.ReportContent(nre="123", therapy=(services.TherapyLine(drug="", dose="2"),))
    with pytest.raises(ValidationError) as error:
        services.report_update(actor=doctor, report=report, content=bad)
    assert {"nre", "therapy"} <= set(error.value.message_dict)
    log_in(client, doctor)
    response = client.post(
        reverse("reports:autosave", args=[report.public_id]),
        {"therapy-TOTAL_FORMS": "1", "therapy-INITIAL_FORMS": "0", "nre": "x" * 30},
    )
    assert response.status_code == 400 and response.json()["message"]
    report.refresh_from_db()
    assert report.diagnosis == CONTENT.diagnosis and report.nre == ""
    with pytest.raises(ValidationError, match="NRE"):
        _report(doctor, patient, kind="report", content=services.ReportContent(nre="ABCDE1234567890"))


def test_a_prescription_records_the_nre_and_pin_from_sistema_ts(linked_pair):
    doctor, patient = linked_pair()
    report = _report(doctor, patient, kind="prescription", content=services.ReportContent(
        nre="1200a 1234567890", nre_pin="4321", therapy=CONTENT.therapy))  # fmt: skip
    assert (report.nre, report.nre_pin) == ("1200A1234567890", "4321")


# --- signing ----------------------------------------------------------------------------------


def test_signing_locks_the_document_and_delivers_it(linked_pair, next_code, run_tasks, tmp_path):
    from telemed.boxes.models import Box, Document
    from telemed.notifications.models import Notification

    doctor, patient = linked_pair()
    report = services.report_sign(actor=doctor, report=_report(doctor, patient), code=next_code(doctor))
    report.refresh_from_db()
    assert report.status == ReportStatus.SIGNED and report.signature.public_id == report.public_id
    assert report.pdf_size > 0
    with pytest.raises(ValidationError, match="cannot change"):
        services.report_update(actor=doctor, report=report, content=services.ReportContent(diagnosis="changed"))

    path = tmp_path / "signed.pdf"
    with report.pdf.open("rb") as stream:
        path.write_bytes(stream.read())
    assert path.read_bytes().startswith(b"%PDF-")
    result = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid" in result.stdout and "Total document signed" in result.stdout, result.stdout
    info = subprocess.run(["pdfinfo", "-meta", str(path)], capture_output=True, text=True, timeout=60).stdout
    assert "pdfaid:part" in info  # PDF/A identification

    run_tasks()
    welbox = Box.objects.get(owner=patient)
    medbox = Box.objects.get(owner=doctor)
    for box in (welbox, medbox):
        document = Document.objects.get(box=box)
        assert (
            document.counts_against_quota is False and document.digest == blake3.blake3(path.read_bytes()).hexdigest()
        )
    assert Document.objects.get(box=medbox).folder.patient == patient  # under that patient
    welbox.refresh_from_db()
    assert welbox.used_bytes == 0 if hasattr(welbox, "used_bytes") else True
    assert Notification.objects.filter(recipient=patient, kind="report_signed").exists()
    report.refresh_from_db()
    assert report.delivered_at is not None
    run_tasks()
    assert Document.objects.filter(box=welbox).count() == 1  # delivered once


def test_a_wrong_code_signs_nothing_and_stores_nothing(linked_pair, next_code):
    from django_tasks_db.models import DBTaskResult

    doctor, patient = linked_pair()
    report = _report(doctor, patient)
    good = next_code(doctor)
    with pytest.raises(ValidationError, match="not right"):
        services.report_sign(actor=doctor, report=report, code="000000" if good != "000000" else "111111")
    report.refresh_from_db()
    assert report.status == ReportStatus.DRAFT and not report.pdf
    assert SignatureRecord.objects.count() == 0
    assert not DBTaskResult.objects.filter(task_path__contains="deliver_signed_report").exists()
    assert not default_storage.exists(f"private/reports/{doctor.pk}/{report.public_id.hex}.pdf")


def test_an_empty_report_cannot_be_signed(linked_pair, next_code):
    doctor, patient = linked_pair()
    with pytest.raises(ValidationError, match="diagnosis or findings"):
        services.report_sign(
            actor=doctor, report=_report(doctor, patient, content=services.ReportContent()), code=next_code(doctor)
        )
    with pytest.raises(ValidationError, match="at least one drug"):
        services.report_sign(
            actor=doctor, report=_report(doctor, patient, kind="prescription", content=services.ReportContent()),
            code=next_code(doctor),
        )  # fmt: skip


def test_a_batch_is_signed_with_one_code(linked_pair, next_code, make_patient):
    doctor, patient = linked_pair()
    other = make_patient()
    link(doctor, other)
    drafts = [_report(doctor, patient), _report(doctor, other, kind="prescription"), _report(doctor, patient)]
    signed = services.reports_sign_batch(actor=doctor, reports=drafts, code=next_code(doctor))
    assert len(signed) == 3
    assert Report.objects.filter(status=ReportStatus.SIGNED).count() == 3
    assert SignatureRecord.objects.count() == 3


def test_a_batch_with_someone_elses_draft_signs_nothing(linked_pair, next_code):
    doctor, patient = linked_pair()
    other_doctor, other_patient = linked_pair()
    mine, theirs = _report(doctor, patient), _report(other_doctor, other_patient)
    with pytest.raises(PermissionDenied):
        services.reports_sign_batch(actor=doctor, reports=[mine, theirs], code=next_code(doctor))
    assert SignatureRecord.objects.count() == 0


def test_a_correction_is_a_new_version_and_both_stay_visible(linked_pair, next_code, client):
    doctor, patient = linked_pair()
    first = services.report_sign(actor=doctor, report=_report(doctor, patient), code=next_code(doctor))
    correction = services.report_correct(actor=doctor, report=first)
    assert correction.version == 2 and correction.replaces == first and correction.diagnosis == first.diagnosis
    with pytest.raises(ValidationError):
        services.report_correct(actor=doctor, report=first)  # one correction at a time
    services.report_update(
        actor=doctor, report=correction, content=services.ReportContent(diagnosis="Ipertensione di grado 2")
    )
    correction = services.report_sign(actor=doctor, report=correction, code=next_code(doctor))
    first.refresh_from_db()
    assert first.status == ReportStatus.SIGNED and first.diagnosis == CONTENT.diagnosis  # untouched
    assert [r.version for r in selectors.report_history(first)] == [1, 2]
    log_in(client, patient)
    assert set(selectors.signed_for_user(patient)) == {first, correction}
    page = client.get(reverse("reports:detail", args=[first.public_id]))
    assert page.status_code == 200 and b'data-testid="superseded"' in page.content


def test_the_patient_downloads_the_signed_pdf_and_the_read_is_audited(linked_pair, next_code, client, make_patient):
    from telemed.audit.models import AuditEntry

    doctor, patient = linked_pair()
    report = services.report_sign(actor=doctor, report=_report(doctor, patient), code=next_code(doctor))
    log_in(client, patient)
    response = client.get(reverse("reports:pdf", args=[report.public_id]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    body = b"".join(response.streaming_content)
    assert body.startswith(b"%PDF-")
    assert AuditEntry.objects.filter(patient=patient, action="download", actor=patient).exists()
    log_in(client, make_patient())
    assert client.get(reverse("reports:pdf", args=[report.public_id])).status_code == 404


def test_the_verification_page_recognises_the_document(linked_pair, next_code, client):
    doctor, patient = linked_pair()
    report = services.report_sign(actor=doctor, report=_report(doctor, patient), code=next_code(doctor))
    with report.pdf.open("rb") as stream:
        data = stream.read()
    response = client.post(
        reverse("signatures:verify_document", args=[report.public_id]), {"document": io.BytesIO(data)}
    )
    outcome = response.context["outcome"]
    assert response.status_code == 200 and outcome.valid and outcome.matches_expected
    finding = outcome.findings[0]
    assert finding.check.fiscal_code == doctor.doctor_profile.codice_fiscale
    assert finding.record.pk == report.signature.pk
    assert patient.last_name not in response.content.decode()  # the public page names no patient


# --- an engagement verified by a higher app ------------------------------------------------------------


def test_an_engagement_lets_a_doctor_write_and_sign_for_a_patient_without_a_link(
    signing_doctor, make_patient, next_code
):
    doctor, patient = signing_doctor(), make_patient()
    with pytest.raises(ValidationError, match="accepted a link"):
        _report(doctor, patient)  # the default check still holds
    report = services.report_create(
        actor=doctor, patient=patient, kind="report", content=CONTENT, engagement="consult:42"
    )
    assert report.engagement == "consult:42"
    # Signed only by the app that engaged it (its flow: the consult answered), never on its own.
    with pytest.raises(ValidationError, match="sign it from its page"):
        services.report_sign(actor=doctor, report=report, code=next_code(doctor))
    with pytest.raises(ValidationError, match="sign it from its page"):
        services.reports_sign_batch(actor=doctor, reports=[report], code=next_code(doctor))
    signed = services.report_sign(actor=doctor, report=report, code=next_code(doctor), engagement="consult:42")
    assert signed.status == ReportStatus.SIGNED
    correction = services.report_correct(actor=doctor, report=signed)
    assert correction.engagement == "consult:42"


def test_an_engagement_does_not_make_a_non_patient_a_patient(signing_doctor):
    doctor, colleague = signing_doctor(), signing_doctor()
    with pytest.raises(ValidationError, match="accepted a link"):
        services.report_create(actor=doctor, patient=colleague, kind="report", engagement="consult:1")
