"""A patient imports a radiology CD folder in Chromium against the real server (upload, the task
worker's import, the report), opens a study and scrolls a series in the viewer, with a CT window
preset and zoom."""

import pytest

from conftest import PASSWORD
from telemed.boxes.models import Box
from telemed.dicom.models import Instance, Study
from telemed.dicom.tests.conftest import cd_from_dicomdir_set
from tests.browser.conftest import screenshot


@pytest.fixture
def patient_page(new_page, make_patient):
    user = make_patient(first_name="Anna", last_name="Conti", email="anna.dicom@example.test")
    page = new_page(locale="en-GB")
    page.goto("/account/login/")
    page.locator('input[name="username"]').fill(user.email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('main button[type="submit"]').click()
    page.wait_for_url("**/dashboard/")
    page.user = user
    return page


def test_a_patient_imports_a_cd_folder_opens_a_study_and_scrolls_a_series(patient_page, tmp_path):
    page = patient_page
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    page.goto("/box/")
    page.locator('[data-testid="import-cd-button"]').click()
    page.wait_for_url("**/dicom/import/")
    page.locator('input[name="cd_folder"]').set_input_files(str(cd))
    page.locator('[data-testid="cd-import-submit"]').click()
    page.wait_for_url("**/dicom/imports/*/")
    report = page.locator('[data-testid="import-report"][data-state="done"]')
    report.wait_for(timeout=60000)
    assert page.locator('[data-testid="imported-count"]').inner_text().startswith("31")
    screenshot(page, "dicom-import-report")
    box = Box.objects.get(owner=page.user)
    assert (
        box.used_bytes == sum(Instance.objects.filter(box=box).values_list("size", flat=True))
        and box.reserved_bytes == 0
    )

    study = Study.objects.get(box=box, description="Brain-MRA")
    page.locator('[data-testid="study-card"]', has_text="Brain-MRA").get_by_role("link", name="Open the viewer").click()
    page.wait_for_url(f"**/dicom/studies/{study.pk}/")
    series = page.locator('[data-testid="series-button"]', has_text="ANGIO")
    series.click()
    stage = page.locator('[data-testid="viewer-stage"]')
    position = page.locator('[data-testid="viewer-position"]')
    position.filter(has_text="1 of 7").wait_for()
    # The page's CSP forbids evaluated scripts, so the test waits on what the viewer writes into the DOM.
    stage.and_(page.locator('[data-loaded="0"]')).wait_for()
    image = page.locator('[data-testid="viewer-image"]')
    first_src = image.get_attribute("src")
    assert image.is_visible()

    stage.focus()
    page.keyboard.press("ArrowDown")
    position.filter(has_text="2 of 7").wait_for()
    stage.and_(page.locator('[data-loaded="1"]')).wait_for()
    assert image.get_attribute("src") != first_src
    stage.hover()
    page.mouse.wheel(0, 120)
    page.mouse.wheel(0, 120)
    position.filter(has_text="4 of 7").wait_for()
    page.keyboard.press("End")
    position.filter(has_text="7 of 7").wait_for()
    assert page.locator('[data-testid="viewer-slider"]').input_value() == "7"

    page.locator('[data-testid="preset-brain"]').click()
    page.locator('[data-testid="viewer-image"][src*="ww=80"]').wait_for(state="attached")
    stage.and_(page.locator('[data-loaded="6"]')).wait_for()
    stage.focus()
    page.keyboard.press("+")
    assert "scale(1.25)" in image.get_attribute("style")
    screenshot(page, "dicom-viewer")
    audit = page.goto("/audit/")
    assert audit.status == 200
    assert "viewed" in page.locator('[data-testid="audit-entries"]').inner_text()


def test_the_import_report_calls_a_damaged_file_damaged_and_names_zip_members_as_on_the_cd(
    new_page, make_patient, tmp_path
):
    import zipfile

    from telemed.dicom.tests.conftest import with_new_uids

    user = make_patient(first_name="Lucia", last_name="Sala", email="lucia.dicom@example.test")
    page = new_page()  # Italian, like most patients
    page.goto("/account/login/")
    page.locator('input[name="username"]').fill(user.email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('main button[type="submit"]').click()
    page.wait_for_url("**/dashboard/")
    archive = tmp_path / "esame.zip"
    with zipfile.ZipFile(archive, "w") as zip_file:
        zip_file.writestr("DICOM/IM0001", with_new_uids("CT_small.dcm"))
        zip_file.writestr("DICOM/IM0002", b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\x7fgarbage" * 20)
    page.goto("/dicom/import/")
    page.locator('input[name="cd_zip"]').set_input_files(str(archive))
    page.locator('[data-testid="cd-import-submit"]').click()
    page.wait_for_url("**/dicom/imports/*/")
    page.locator('[data-testid="import-report"][data-state="done"]').wait_for(timeout=60000)
    row = page.locator('[data-testid="skip-row"]')
    assert row.count() == 1
    assert row.locator("td").first.inner_text() == "esame.zip/DICOM/IM0002"
    assert "danneggiato" in row.locator("td").last.inner_text()
    assert "unzipped" not in page.content()
    screenshot(page, "dicom-import-report-damaged")


def test_a_cd_of_500_files_travels_in_a_few_batches_with_its_progress_shown(patient_page, tmp_path):
    import math
    import re

    import pydicom

    from telemed.dicom.tests.conftest import with_new_uids

    page = patient_page
    study_uid, series_uid = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    cd = tmp_path / "CD" / "DICOM"
    cd.mkdir(parents=True)
    for number in range(500):
        image = with_new_uids(
            "CT_small.dcm", StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid, InstanceNumber=number + 1
        )
        (cd / f"IM{number:05d}").write_bytes(image)
    total_bytes = sum(path.stat().st_size for path in cd.iterdir())

    page.goto("/dicom/import/")
    statuses, requests = [], []
    page.expose_function("recordCdStatus", lambda text: statuses.append(text))
    page.on("request", lambda request: requests.append(request.url) if "/dicom/imports/" in request.url else None)
    page.locator('[data-testid="cd-status"]').evaluate(
        "el => new MutationObserver(() => window.recordCdStatus(el.textContent))"
        ".observe(el, {childList: true, characterData: true, subtree: true})"
    )
    page.locator('input[name="cd_folder"]').set_input_files(str(tmp_path / "CD"))
    page.locator('[data-testid="cd-import-submit"]').click()
    page.wait_for_url("**/dicom/imports/*/")
    page.locator('[data-testid="import-report"][data-state="done"]').wait_for(timeout=120000)
    assert page.locator('[data-testid="imported-count"]').inner_text().startswith("500")

    # A few requests of whole files, none file by file.
    batches = [url for url in requests if url.endswith("/batch")]
    assert len(batches) == math.ceil(total_bytes / (16 * 1024 * 1024)) and not [
        url for url in requests if url.endswith("/files")
    ]
    # The progress counted the files up to all 500.
    counts = [int(match.group(1)) for text in statuses if (match := re.match(r"(\d+) of 500 files sent", text))]
    assert counts and counts == sorted(counts) and counts[-1] == 500, statuses
    study = Study.objects.get(box__owner=page.user)
    assert Instance.objects.filter(series__study=study).count() == 500
    box = Box.objects.get(owner=page.user)
    assert (
        box.used_bytes == sum(Instance.objects.filter(box=box).values_list("size", flat=True))
        and box.reserved_bytes == 0
    )
