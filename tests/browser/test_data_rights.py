"""The patient's data rights in Chromium against the real server.

Oscuramento: a patient hides a shared document and the doctor no longer sees it, then sees it
again after the undo; both changes are in the patient's access log. Notices: a new version of
the privacy notice is asked for, and accepted, at the next login. Export: the patient asks for
their data, the worker builds the ZIP, and its index lists every item the Welbox shows, the
record as an HL7 FHIR R4 Bundle among them."""

import io
import json
import zipfile

from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from conftest import PASSWORD
from telemed.accounts import consents
from telemed.accounts.models import Notice
from telemed.boxes import selectors as box_selectors
from telemed.boxes import services as box_services
from telemed.consults.tests.conftest import welbox_document
from telemed.dicom import selectors as dicom_selectors
from telemed.portal.management.commands.load_demo import demo_study_import
from telemed.rights.models import DataExport
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_accessibility import blocking_violations
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def test_a_patient_hides_a_document_from_the_linked_doctor_and_shows_it_again(new_page, make_patient, make_doctor):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.bruno@example.test", first_name="Paolo", last_name="Bruno"
    )
    patient = make_patient(email="giulia.rights@example.test", first_name="Giulia", last_name="Sala")
    document = off_the_loop(welbox_document, patient, name="Esame tiroide.pdf")
    off_the_loop(box_services.document_share, actor=patient, document=document, doctor=doctor)

    patient_page, doctor_page = new_page(locale="en-GB"), new_page(locale="en-GB")
    log_in(doctor_page, doctor)
    doctor_page.goto("/box/shared/")
    assert doctor_page.locator('[data-testid="shared-list"]').get_by_text("Esame tiroide.pdf").is_visible()

    log_in(patient_page, patient)
    patient_page.goto(f"/box/documents/{document.pk}/")
    patient_page.locator('[data-testid="hide-form"] button').click()
    patient_page.locator('[data-testid="hidden-notice"]').wait_for()
    patient_page.reload()  # the flash message's list is checked elsewhere; this checks the page itself
    screenshot(patient_page, "rights-document-hidden")
    assert blocking_violations(patient_page) == []

    doctor_page.goto("/box/shared/")
    assert doctor_page.get_by_text("Esame tiroide.pdf").count() == 0
    assert doctor_page.goto(f"/box/documents/{document.pk}/download").status == 404

    patient_page.locator('[data-testid="show-form"] button').click()
    patient_page.locator('[data-testid="hide-form"]').wait_for()
    doctor_page.goto("/box/shared/")
    assert doctor_page.locator('[data-testid="shared-list"]').get_by_text("Esame tiroide.pdf").is_visible()

    patient_page.goto("/audit/")
    log = patient_page.locator('[data-testid="audit-entries"]').inner_text()
    assert "hidden from doctors" in log and "shown to doctors again" in log


def test_a_new_privacy_version_is_accepted_at_the_next_login(new_page, make_patient):
    patient = make_patient(email="carla.notice@example.test", first_name="Carla", last_name="Riva")
    Notice.objects.create(
        kind="privacy", version="2027-03", published_at=timezone.now(),
        body="Informativa aggiornata: i dati sono conservati in Italia.\n\nAltre novità.",
    )  # fmt: skip

    page = new_page(locale="en-GB")
    page.goto("/account/login/")
    page.locator('input[name="username"]').fill(patient.email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('main button[type="submit"]').click()
    page.wait_for_url("**/account/consents/renew/**")
    form = page.locator('[data-testid="consents-renew-form"]')
    screenshot(page, "rights-consents-renew")
    assert blocking_violations(page) == []

    with page.context.expect_page() as notice_tab:
        page.get_by_role("link", name="Privacy notice").first.click()
    notice_tab.value.get_by_text("conservati in Italia").wait_for()
    notice_tab.value.close()

    form.locator('input[name="privacy"]').check()
    form.locator('input[name="health_data"]').check()
    form.locator('input[name="shared_space"]').check()
    form.get_by_role("button", name="Confirm and go on").click()
    page.wait_for_url("**/dashboard/")
    assert ("privacy", "2027-03") in set(consents.live_consents(patient).values_list("kind", "version"))
    page.goto("/account/consents/")
    assert "2027-03" in page.locator('[data-testid="consent-privacy"]').inner_text()


def export_diagnosis(patient) -> str:
    """What the export and its task are doing, for a test that did not see it finish."""
    exports = list(DataExport.objects.filter(user=patient).values("state", "items_done", "items_total"))
    runs = list(DBTaskResult.objects.filter(task_path__endswith="export_build").values_list("status", "traceback"))
    queued = DBTaskResult.objects.filter(status__in=["READY", "RUNNING"]).values_list("task_path", "status")
    return f"exports {exports}; export tasks {[(status, tb[-800:]) for status, tb in runs]}; queue {list(queued)}"


def test_a_patient_exports_their_data_and_the_index_lists_every_item_of_the_welbox(new_page, make_patient):
    patient = make_patient(email="luca.export@example.test", first_name="Luca", last_name="Serra")
    off_the_loop(welbox_document, patient, name="Referto cardiologico.pdf")
    off_the_loop(welbox_document, patient, name="Analisi del sangue.pdf")
    off_the_loop(demo_study_import, patient)

    page = new_page(locale="en-GB")
    log_in(page, patient)
    page.goto("/box/")
    shown_documents = page.locator('[data-testid="document-row"]').count()
    page.goto("/rights/export/")
    page.locator('[data-testid="export-form"] button').click()
    # The ZIP is built by the platform's task worker; in CI it shares 2 cores with a second test
    # process. A finished export is "ready" or "failed": wait for either, and say which and why.
    finished = page.locator(
        '[data-testid="export-card"][data-state="ready"], [data-testid="export-card"][data-state="failed"]'
    )
    try:
        finished.wait_for(timeout=120000)
    except PlaywrightTimeoutError:
        raise AssertionError(off_the_loop(export_diagnosis, patient)) from None
    assert finished.get_attribute("data-state") == "ready", off_the_loop(export_diagnosis, patient)
    screenshot(page, "rights-export-ready")
    assert blocking_violations(page) == []
    with page.expect_download() as download:
        page.locator('[data-testid="export-download"]').click()
    with open(download.value.path(), "rb") as stream:
        archive = zipfile.ZipFile(io.BytesIO(stream.read()))
    index = json.loads(archive.read("index.json"))

    listed = {(item["type"], item["id"]) for item in index["items"]}
    documents = off_the_loop(lambda: list(box_selectors.document_list_for_user(patient)))
    studies = off_the_loop(lambda: list(dicom_selectors.studies_owned_by(patient)))
    assert len(documents) == shown_documents == 2 and len(studies) == 1
    assert {("document", str(d.pk)) for d in documents} | {("study", str(s.pk)) for s in studies} <= listed
    assert all(any(name.startswith(item["path"]) for name in archive.namelist()) for item in index["items"])
    bundle = json.loads(archive.read("fhir/patient-bundle.json"))  # the record in HL7 FHIR R4
    assert ("fhir", str(patient.pk)) in listed and bundle["type"] == "collection"
    assert {e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"} == {
        str(d.pk) for d in documents
    }
