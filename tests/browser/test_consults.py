"""A patient asks a priority consult with a radiology study imported from a CD; the doctor opens the
study in the viewer, writes the answer and signs it with a TOTP code computed here; the signed report
reaches the patient's Welbox. And an Info request rejected by the secretary: the e-mail reaches a
real SMTP server and its link opens a consult request with the text in it."""

import time

from conftest import PASSWORD
from telemed.accounts import consents
from telemed.accounts.models import Role, SecretaryAssignment, SecretaryProfile, User
from telemed.billing.models import BillableService
from telemed.boxes.models import Document
from telemed.consults.models import Consult, InfoRequest
from telemed.consults.tests.conftest import offer_consults
from telemed.dicom.models import Study
from telemed.dicom.tests.conftest import cd_from_dicomdir_set
from telemed.signatures import services as signing
from telemed.signatures import totp
from telemed.signatures.tests.conftest import code_for
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def wait_for(condition, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _doctor(make_doctor, email: str):
    doctor = doctor_with_demo_authenticator(make_doctor, email=email, first_name="Paola", last_name="Galli")
    off_the_loop(offer_consults, doctor)
    return doctor


def test_a_priority_consult_with_a_dicom_study_from_request_to_signed_report(
    new_page, make_doctor, make_patient, tmp_path
):
    off_the_loop(signing.certificate_authority_create, name="telemed Consults Test CA")
    doctor = _doctor(make_doctor, "dott.galli@example.test")
    device = off_the_loop(signing.signing_device_enrol_start, actor=doctor)
    off_the_loop(signing.signing_device_confirm, actor=doctor, code=code_for(device, time.time()))
    patient = make_patient(email="elena.consulto@example.test", first_name="Elena", last_name="Ricci")

    # The patient imports a radiology CD into the Welbox.
    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.goto("/dicom/import/")
    patient_page.locator('input[name="cd_folder"]').set_input_files(str(cd_from_dicomdir_set(tmp_path / "CD")))
    patient_page.locator('[data-testid="cd-import-submit"]').click()
    patient_page.wait_for_url("**/dicom/imports/*/")
    patient_page.locator('[data-testid="import-report"][data-state="done"]').wait_for(timeout=60000)
    study = Study.objects.get(box__owner=patient, description="Brain-MRA")

    # A priority consult to the doctor, with the study: cost and deadline are shown and accepted.
    patient_page.goto(f"/consults/new/{doctor.doctor_profile.slug}/")
    patient_page.get_by_test_id("kind-priority").check()
    assert patient_page.get_by_test_id("deadline-priority").is_visible()
    patient_page.locator("textarea[name=question]").fill("Cefalea da tre settimane: la risonanza mostra qualcosa?")
    patient_page.locator(f"input[name=studies][value='{study.pk}']").check()
    patient_page.locator("input[name=accept]").check()
    screenshot(patient_page, "consult-request")
    patient_page.get_by_test_id("send-consult").click()
    patient_page.wait_for_url("**/consults/*/")
    consult = Consult.objects.get(patient=patient)
    assert consult.service_kind == "priority" and consult.status == "requested"
    patient_page.goto("/consults/")
    row = patient_page.get_by_test_id(f"consult-{consult.pk}")
    assert row.get_by_test_id("countdown").is_visible() and str(consult.patient_total).replace(
        ".", ""
    ) in row.inner_text().replace(",", "").replace(".", "")
    patient_page.goto(f"/consults/{consult.pk}/")  # and keeps the consult open from here on

    # The doctor finds it first in the queue, opens the study in the viewer, and takes it up.
    doctor_page = new_page()
    log_in(doctor_page, doctor)
    doctor_page.goto("/consults/queue/")
    doctor_page.get_by_test_id(f"queue-{consult.pk}").get_by_role("link").click()
    doctor_page.wait_for_url(f"**/consults/{consult.pk}/")
    doctor_page.get_by_test_id("open-study").click()
    doctor_page.wait_for_url(f"**/dicom/studies/{study.pk}/")
    doctor_page.locator('[data-testid="series-button"]').first.click()
    doctor_page.locator('[data-testid="viewer-image"]').wait_for()
    screenshot(doctor_page, "consult-doctor-viewer")
    doctor_page.goto(f"/consults/{consult.pk}/")
    doctor_page.locator("button[name=start]").click()
    patient_page.get_by_test_id("consult-changed").wait_for()  # live: the consult was taken up
    doctor_page.locator("textarea[name=text]").fill("Ha avuto nausea o disturbi della vista?")
    doctor_page.locator("button[name=send_message]").click()
    doctor_page.get_by_test_id("thread").wait_for()

    # The thread is live both ways: no reload on either side.
    patient_page.get_by_test_id("thread").get_by_text("Ha avuto nausea").wait_for()
    screenshot(patient_page, "consult-thread-live")
    patient_page.locator("textarea[name=text]").fill("Un po' di nausea al mattino, la vista è normale.")
    patient_page.locator("button[name=send_message]").click()
    doctor_page.get_by_test_id("thread").get_by_text("Un po' di nausea al mattino").wait_for()

    # The answer: a report written in the editor, signed with the next code of the signing app.
    doctor_page.locator("select[name=kind]").select_option("report")
    doctor_page.locator("button[name=write_report]").click()
    doctor_page.wait_for_url("**/reports/*/edit/")
    doctor_page.locator("textarea[name=diagnosis]").fill("Angio-RM encefalica nei limiti della norma")
    doctor_page.locator("textarea[name=findings]").fill("Nessuna alterazione dei vasi intracranici.")
    doctor_page.locator("[data-testid=autosave-status][data-state=saved]").wait_for()
    doctor_page.goto(f"/consults/{consult.pk}/")
    doctor_page.locator("input[name=code]").fill(code_for(device, time.time() + totp.STEP_SECONDS))
    doctor_page.locator("button[name=answer]").click()
    doctor_page.get_by_test_id("signed-report").wait_for()
    screenshot(doctor_page, "consult-answered")
    consult.refresh_from_db()
    assert consult.status == "answered" and consult.report.status == "signed"
    assert BillableService.objects.filter(source_key=f"consult:{consult.pk}", kind="priority").exists()

    # The signed report is in the patient's Welbox, and the consult shows it.
    wait_for(lambda: Document.objects.filter(box__owner=patient, category="report").exists())
    patient_page.goto(f"/consults/{consult.pk}/")
    assert patient_page.get_by_test_id("signed-report").is_visible()
    assert "Ha avuto nausea" in patient_page.get_by_test_id("thread").inner_text()
    patient_page.goto("/box/")
    name = Document.objects.get(box__owner=patient, category="report").name
    assert patient_page.get_by_text(name).first.is_visible()
    screenshot(patient_page, "consult-report-in-welbox")


def test_a_rejected_info_request_is_emailed_and_reopens_as_a_consult(new_page, make_doctor, make_patient, mailbox):
    doctor = _doctor(make_doctor, "dott.info@example.test")
    patient = make_patient(email="marco.info@example.test", first_name="Marco", last_name="Fontana")
    secretary = User.objects.create_user(
        "segreteria.info@example.test", PASSWORD, first_name="Sara", last_name="Neri", role=Role.SECRETARY
    )
    consents.consents_give(user=secretary, kinds=consents.required_kinds(secretary))
    SecretaryAssignment.objects.create(
        secretary=SecretaryProfile.objects.create(user=secretary), doctor=doctor.doctor_profile
    )

    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.goto(f"/consults/info/new/{doctor.doctor_profile.slug}/")
    question = "Il mio colesterolo è 260: devo prendere una statina?"
    patient_page.locator("textarea[name=text]").fill(question)
    patient_page.get_by_test_id("send-info").click()
    patient_page.wait_for_url("**/consults/")
    info = InfoRequest.objects.get(patient=patient)

    secretary_page = new_page()
    log_in(secretary_page, secretary)
    secretary_page.goto("/consults/info/")
    item = secretary_page.get_by_test_id(f"info-{info.pk}")
    assert question in item.inner_text()
    item.locator("button[name=reject_info]").click()
    secretary_page.wait_for_url("**/consults/info/**")

    # Among the patient's e-mails (a notification is one too), the one with the consult link.
    def rejection_body():
        bodies = [m.get_content() for m in mailbox.messages if "marco.info@example.test" in m["To"]]
        return next((body for body in bodies if "/consults/new/" in body), None)

    wait_for(lambda: rejection_body() is not None)
    body = rejection_body()
    assert question not in body
    link = next(line.strip() for line in body.splitlines() if "/consults/new/" in line)
    patient_page.goto(link[link.index("/consults/") :])
    assert patient_page.locator("textarea[name=question]").input_value() == question
    screenshot(patient_page, "consult-from-rejected-info")


def test_signing_the_answer_in_the_editor_delivers_it_and_answers_the_consult(new_page, make_doctor, make_patient):
    """Signing the answer is answering: one "Sign and send" in the editor signs, delivers, stops the
    deadline and makes the consult billable; no second button is left behind."""
    import uuid

    from telemed.consults import services as consults

    off_the_loop(signing.certificate_authority_create, name="telemed Answer Test CA")
    doctor = _doctor(make_doctor, "dott.answer@example.test")
    device = off_the_loop(signing.signing_device_enrol_start, actor=doctor)
    off_the_loop(signing.signing_device_confirm, actor=doctor, code=code_for(device, time.time()))
    patient = make_patient(email="luca.answer@example.test", first_name="Luca", last_name="Serra")
    draft = consults.ConsultDraft(kind="base", question="La pressione è 150/95 al mattino: devo curarla?",
                                  accepted_terms=True, idempotency_key=uuid.uuid4())  # fmt: skip
    consult, _created = off_the_loop(consults.consult_request, actor=patient, doctor=doctor.doctor_profile, draft=draft)

    doctor_page = new_page()
    log_in(doctor_page, doctor)
    doctor_page.goto(f"/consults/{consult.pk}/")
    doctor_page.locator("button[name=start]").click()
    doctor_page.locator("select[name=kind]").select_option("prescription")
    doctor_page.locator("button[name=write_report]").click()
    doctor_page.wait_for_url("**/reports/*/edit/")
    doctor_page.locator("textarea[name=diagnosis]").fill("Ipertensione arteriosa di grado 1")
    doctor_page.locator("input[name='therapy-0-drug']").fill("Ramipril 5 mg")
    doctor_page.locator("input[name='therapy-0-schedule']").fill("1 compressa al mattino")
    doctor_page.locator("input[name=code]").fill(code_for(device, time.time() + totp.STEP_SECONDS))
    screenshot(doctor_page, "consult-answer-editor")
    doctor_page.locator("button[name=sign]").click()

    # Back on the consult: answered, the deadline no longer counts down, nothing left to send.
    doctor_page.wait_for_url(f"**/consults/{consult.pk}/")
    doctor_page.get_by_test_id("signed-report").wait_for()
    screenshot(doctor_page, "consult-answer-signed")
    consult.refresh_from_db()
    assert consult.status == "answered" and consult.report.status == "signed"
    assert doctor_page.get_by_test_id("countdown").count() == 0
    assert doctor_page.locator("button[name=answer]").count() == 0
    assert BillableService.objects.filter(source_key=f"consult:{consult.pk}", kind="base").exists()
    doctor_page.goto("/consults/queue/")
    assert doctor_page.get_by_test_id(f"queue-{consult.pk}").count() == 0

    # The patient finds the prescription in the consult and in the Welbox.
    wait_for(lambda: Document.objects.filter(box__owner=patient, category="prescription").exists())
    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.goto(f"/consults/{consult.pk}/")
    assert patient_page.get_by_test_id("signed-report").is_visible()
