"""The Welbox in Chromium against the real server: upload with a progress bar, list, preview,
rename, the audit page, an upload that resumes after a dropped connection and after a reload,
and the quota refusal with its two ways out."""

import io

import blake3
import pytest
from pypdf import PdfWriter

from conftest import PASSWORD
from telemed.boxes.models import Box, BoxSettings, Document
from telemed.portal.management.commands.load_demo import demo_text_pdf
from tests.browser.conftest import screenshot
from tests.browser.test_accessibility import blocking_violations

CHUNK = 512 * 1024


def padded_pdf(title: str, megabytes: int) -> bytes:
    """A real PDF of about ``megabytes`` MB (a text page plus an attachment), so that it takes several chunks."""
    writer = PdfWriter(clone_from=io.BytesIO(demo_text_pdf(title, ["Esame di prova per il caricamento."])))
    writer.add_attachment("raw-data.bin", bytes(range(256)) * (megabytes * 4096))
    stream = io.BytesIO()
    writer.write(stream)
    return stream.getvalue()


@pytest.fixture
def patient_page(new_page, make_patient):
    user = make_patient(first_name="Anna", last_name="Conti", email="anna.box@example.test")
    page = new_page(locale="en-GB")
    page.goto("/account/login/")
    page.locator('input[name="username"]').fill(user.email)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('main button[type="submit"]').click()
    page.wait_for_url("**/dashboard/")
    page.user = user
    return page


def small_chunks(page):
    # The server suggests chunks of 8 MB growing to 64 MB; small fixed ones make the test's files
    # span several requests, at offsets the test knows.
    page.locator('[data-testid="upload-form"]').evaluate(
        f"form => {{ form.dataset.chunkBytes = '{CHUNK}'; form.dataset.chunkMaxBytes = '{CHUNK}'; }}"
    )


def patch_offsets(page) -> list[int]:
    """The Upload-Offset of every chunk the page sends from now on, in order."""
    offsets: list[int] = []
    page.on("request", lambda r: r.method == "PATCH" and offsets.append(int(r.headers["upload-offset"])))
    return offsets


def choose(page, path, category="report"):
    small_chunks(page)
    form = page.locator('[data-testid="upload-form"]')
    form.locator('input[name="file"]').set_input_files(str(path))
    form.locator('select[name="category"]').select_option(category)
    page.locator('[data-testid="upload-submit"]').click()


def test_a_patient_uploads_sees_previews_renames_and_checks_the_audit(patient_page, tmp_path):
    page = patient_page
    page.goto("/box/")
    assert page.locator("meter").count() == 1
    path = tmp_path / "Referto ECG.pdf"
    content = padded_pdf("Referto ECG", 3)
    path.write_bytes(content)
    choose(page, path)
    row = page.locator('[data-testid="document-row"]', has_text="Referto ECG.pdf")
    row.wait_for()
    screenshot(page, "boxes-welbox-after-upload")
    assert blocking_violations(page) == []
    document = Document.objects.get(box__owner=page.user)
    assert document.digest == blake3.blake3(content).hexdigest() and document.size == len(content)

    with page.expect_response(lambda response: response.url.endswith("/preview")) as preview:
        row.get_by_role("link", name="Referto ECG.pdf").click()
    assert preview.value.status == 200 and preview.value.headers["content-type"] == "application/pdf"
    assert page.locator('iframe[data-testid="document-preview"]').is_visible()
    page.wait_for_timeout(1500)  # let the PDF viewer paint for the screenshot
    screenshot(page, "boxes-document-preview")
    assert blocking_violations(page) == []

    page.locator('[data-testid="rename-form"] input[name="name"]').fill("ECG marzo 2026.pdf")
    page.locator('[data-testid="rename-form"] button[type="submit"]').click()
    page.locator('[data-testid="document-name"]', has_text="ECG marzo 2026.pdf").wait_for()
    document.refresh_from_db()
    assert document.name == "ECG marzo 2026.pdf"

    page.goto("/audit/")
    entries = page.locator('[data-testid="audit-entries"] tbody tr')
    actions = entries.all_inner_texts()
    assert any("viewed" in text and "Referto ECG.pdf" in text for text in actions), actions
    assert any("renamed" in text for text in actions) and any("uploaded" in text for text in actions), actions
    screenshot(page, "boxes-audit-page")
    assert blocking_violations(page) == []


def test_an_interrupted_upload_resumes_after_a_drop_and_after_a_reload(patient_page, tmp_path):
    page = patient_page
    content = padded_pdf("Ecografia addome", 5)
    path = tmp_path / "Ecografia.pdf"
    path.write_bytes(content)
    offsets = patch_offsets(page)

    # First the connection drops once in the middle: the page retries from what the server holds.
    state = {"patches": 0}

    def drop_third_chunk(route):
        if route.request.method == "PATCH":
            state["patches"] += 1
            if state["patches"] == 3:
                return route.abort("connectionreset")
        return route.continue_()

    page.goto("/box/")
    page.route("**/box/uploads/*", drop_third_chunk)
    choose(page, path, category="imaging")
    page.locator('[data-testid="document-row"]', has_text="Ecografia.pdf").wait_for(timeout=60000)
    page.unroute("**/box/uploads/*")
    first = Document.objects.get(box__owner=page.user)
    assert first.digest == blake3.blake3(content).hexdigest()
    assert offsets[3] == offsets[2] == 2 * CHUNK  # the dropped chunk was sent again, nothing before it

    # Then the network goes away for good after two chunks and the patient reloads the page.
    second = tmp_path / "TAC torace.pdf"
    second_content = padded_pdf("TAC torace", 5)
    second.write_bytes(second_content)
    offsets.clear()
    state["patches"] = 0

    def offline_after_two_chunks(route):
        if route.request.method == "PATCH":
            state["patches"] += 1
            if state["patches"] > 2:
                return route.abort("internetdisconnected")
        return route.continue_()

    page.route("**/box/uploads/*", offline_after_two_chunks)
    choose(page, second, category="imaging")
    status = page.locator('[data-testid="upload-status"]')
    status.filter(has_text="Connection lost").wait_for()
    assert page.locator("progress").get_attribute("value") == str(2 * CHUNK)
    screenshot(page, "boxes-upload-interrupted")
    page.unroute("**/box/uploads/*")
    page.reload()
    offsets.clear()
    choose(page, second, category="imaging")
    page.locator('[data-testid="document-row"]', has_text="TAC torace.pdf").wait_for(timeout=60000)
    assert offsets[0] == 2 * CHUNK  # resumed where it stopped, not from the start
    resumed = Document.objects.get(name="TAC torace.pdf")
    assert resumed.digest == blake3.blake3(second_content).hexdigest()
    box = Box.objects.get(owner=page.user)
    assert box.used_bytes == len(content) + len(second_content) and box.reserved_bytes == 0
    screenshot(page, "boxes-welbox-two-uploads")


def test_an_upload_over_quota_is_refused_with_two_ways_out(patient_page, tmp_path):
    page = patient_page
    page.goto("/box/")
    free = BoxSettings.objects.get_or_create(pk=1)[0].free_quota_bytes
    Box.objects.filter(owner=page.user).update(used_bytes=free - 1000)
    page.reload()
    path = tmp_path / "big.pdf"
    path.write_bytes(padded_pdf("Troppo grande", 1))
    choose(page, path)
    refusal = page.locator('[data-testid="quota-refusal"]')
    refusal.wait_for()
    assert "buy more space" in refusal.inner_text()
    assert refusal.locator('[data-testid="quota-delete"]').is_visible()
    assert refusal.locator('[data-testid="quota-buy"]').is_visible()
    screenshot(page, "boxes-quota-refusal")
    assert Box.objects.get(owner=page.user).reserved_bytes == 0


def test_chunks_grow_on_a_fast_link_up_to_the_largest_the_server_takes(patient_page, tmp_path):
    page = patient_page
    content = padded_pdf("TAC torace", 4)
    path = tmp_path / "TAC.pdf"
    path.write_bytes(content)
    offsets = patch_offsets(page)
    page.goto("/box/")
    form = page.locator('[data-testid="upload-form"]')
    # Starting at 256 KB and taking at most 1 MB: on the loopback every chunk takes well under 1.5 s.
    form.evaluate(
        "form => { form.dataset.chunkBytes = String(256 * 1024); form.dataset.chunkMaxBytes = String(1024 * 1024); }"
    )
    form.locator('input[name="file"]').set_input_files(str(path))
    page.locator('[data-testid="upload-submit"]').click()
    page.locator('[data-testid="document-row"]', has_text="TAC.pdf").wait_for(timeout=60000)
    sizes = [after - before for before, after in zip(offsets, offsets[1:], strict=False)]
    assert sizes[:3] == [256 * 1024, 512 * 1024, 1024 * 1024], sizes
    assert set(sizes[3:]) <= {1024 * 1024}, sizes  # never past the largest
    document = Document.objects.get(box__owner=page.user)
    assert document.digest == blake3.blake3(content).hexdigest() and document.size == len(content)
