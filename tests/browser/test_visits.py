"""A video visit end to end in two real headless Chromium instances with fake camera and
microphone: device check, waiting room, admission, media both ways (proved by getStats), chat both
ways, and after the doctor signs the report the patient finds it in the Welbox."""

import datetime
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from conftest import image_bytes
from telemed.billing.services import tariff_set
from telemed.signatures import services as signing
from telemed.signatures.tests.conftest import code_for
from telemed.visits import services as visits
from telemed.visits.models import Booking
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in

FAKE_MEDIA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

# What each side has received, read from RTCPeerConnection.getStats() in the page.
RECEIVED = """async () => {
  const pc = window.telemedRoom && window.telemedRoom.pc;
  if (!pc) return null;
  const out = {framesDecoded: 0, audioBytes: 0, state: pc.connectionState};
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") out.framesDecoded += s.framesDecoded || 0;
    if (s.type === "inbound-rtp" && s.kind === "audio") out.audioBytes += s.bytesReceived || 0;
  });
  return out;
}"""


@pytest.fixture
def media_browsers(browser):
    """Two separate Chromium processes, each with a fake camera and microphone."""
    launched = [
        browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *FAKE_MEDIA], headless=True)
        for _ in range(2)
    ]
    yield launched
    for chromium in launched:
        chromium.close()


def open_page(chromium, base_url):
    context = chromium.new_context(base_url=base_url, locale="it-IT", viewport={"width": 1280, "height": 900})
    context.grant_permissions(["camera", "microphone"])
    context.set_default_timeout(20000)
    return context.new_page()


def wait_received(page, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    stats = None
    while time.monotonic() < deadline:
        stats = page.evaluate(RECEIVED)
        if stats and stats["framesDecoded"] > 0 and stats["audioBytes"] > 0:
            return stats
        page.wait_for_timeout(250)
    raise AssertionError(f"no media received: {stats}")


def test_video_visit_between_two_browsers(
    media_browsers, live_platform, transactional_db, reference_data, make_doctor, make_patient, tmp_path
):
    off_the_loop(signing.certificate_authority_create, name="telemed Visits Test CA")
    doctor = doctor_with_demo_authenticator(make_doctor, email="dott.neri@example.test", first_name="Paolo", last_name="Neri")
    patient = make_patient(email="sara@example.test", first_name="Sara", last_name="Galli")
    off_the_loop(tariff_set, actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("40.00"), duration_minutes=30)
    device = off_the_loop(signing.signing_device_enrol_start, actor=doctor)
    off_the_loop(signing.signing_device_confirm, actor=doctor, code=code_for(device, time.time()))
    start = timezone.now() + datetime.timedelta(minutes=5)

    def book():
        return Booking.objects.create(
            doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30), duration_minutes=30,
            breakdown=visits.visit_quote(doctor=doctor).to_dict(), accepted_at=timezone.now(),
        )  # fmt: skip

    booking = off_the_loop(book)
    room = f"/visits/{booking.pk}/room/"

    doctor_page = open_page(media_browsers[0], live_platform)
    patient_page = open_page(media_browsers[1], live_platform)
    log_in(doctor_page, doctor)
    log_in(patient_page, patient)

    # The patient passes the device check (camera preview) and waits.
    patient_page.goto(room)
    patient_page.locator("[data-testid=device-status][data-state=ok]").wait_for()
    patient_page.locator("button[name=ready]:not([disabled])").click()
    patient_page.locator("[data-testid=visit-room][data-state=waiting]").wait_for()
    screenshot(patient_page, "visits-waiting-room")

    # The doctor sees the patient waiting and admits them.
    doctor_page.goto(room)
    doctor_page.locator("[data-testid=device-status][data-state=ok]").wait_for()
    doctor_page.locator("button[name=admit]").wait_for(state="visible")
    doctor_page.locator("button[name=admit]").click()

    # Media flows both ways: video frames decoded and audio bytes received on each side.
    for page in (doctor_page, patient_page):
        page.locator("[data-testid=visit-room][data-connection=connected]").wait_for(timeout=30000)
    doctor_stats, patient_stats = wait_received(doctor_page), wait_received(patient_page)
    assert doctor_stats["framesDecoded"] > 0 and patient_stats["framesDecoded"] > 0
    screenshot(doctor_page, "visits-room-doctor")

    # A network drop on the patient's side (the page reloads): the doctor sees them leave, and
    # the call comes back with media both ways on fresh connections.
    patient_page.reload()
    doctor_page.locator("[data-testid=visit-room][data-peer=left]").wait_for()
    patient_page.locator("[data-testid=visit-room][data-connection=connected]").wait_for(timeout=30000)
    doctor_page.locator("[data-testid=visit-room][data-connection=connected]").wait_for(timeout=30000)
    wait_received(doctor_page), wait_received(patient_page)

    # The chat, both ways.
    patient_page.locator("input[name=text]").fill("Buongiorno dottore")
    patient_page.locator("button[name=send]").click()
    doctor_page.locator("[data-testid=chat-list] li", has_text="Buongiorno dottore").wait_for()
    doctor_page.locator("input[name=text]").fill("Buongiorno Sara, mi mostri il braccio")
    doctor_page.locator("button[name=send]").click()
    patient_page.locator("[data-testid=chat-list] li", has_text="mi mostri il braccio").wait_for()

    # The patient sends a requested photo from the chat: it lands in the Welbox, shared with the doctor.
    photo = tmp_path / "braccio.png"
    photo.write_bytes(image_bytes().getvalue())
    patient_page.locator("input[name=file]").set_input_files(str(photo))
    patient_page.locator("button[name=send_file]").click()
    doctor_page.locator("[data-testid=chat-list] li", has_text="braccio.png").wait_for()
    assert doctor_page.locator("button[name=admit]").is_hidden()

    # Private notes autosave; connection quality samples reach the server.
    doctor_page.locator("textarea[name=notes]").fill("Eritema avambraccio destro")
    doctor_page.locator("[data-testid=notes-status]:not(:empty)").wait_for()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        quality = off_the_loop(lambda: Booking.objects.get(pk=booking.pk).quality)
        if quality.get("doctor", {}).get("samples") and quality.get("patient", {}).get("samples"):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"no quality samples: {quality}")

    # The doctor writes the report with the statement and signs it; the patient finds it in the Welbox.
    report_page = doctor_page.context.new_page()
    report_page.goto(f"/visits/{booking.pk}/report/")
    report_page.locator("textarea[name=diagnosis]").fill("Dermatite da contatto")
    report_page.locator("textarea[name=findings]").fill("Eritema circoscritto all'avambraccio destro.")
    report_page.locator("input[name=statement][value=adequate]").check()
    report_page.locator("button[name=save]").click()
    assert "Partecipanti" in report_page.get_by_test_id("visit-record").inner_text() or "Participants" in report_page.get_by_test_id("visit-record").inner_text()
    report_page.locator("input[name=code]").fill(code_for(device, time.time() + 30))
    report_page.locator("button[name=sign]").click()
    report_page.wait_for_url(f"**/visits/{booking.pk}/")
    assert off_the_loop(lambda: Booking.objects.get(pk=booking.pk).status) == "delivered"

    from telemed.boxes.models import Document

    def delivered_document():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            document = Document.objects.filter(box__owner=patient, category="report").first()
            if document is not None:
                return document
            time.sleep(0.5)
        raise AssertionError("the report did not reach the Welbox")

    document = off_the_loop(delivered_document)
    patient_page.goto("/box/")
    link = patient_page.locator(f"main a[href='/box/documents/{document.pk}/']")
    if link.count():
        link.first.click()
    else:  # filed in a folder of the Welbox
        patient_page.goto(f"/box/documents/{document.pk}/")
    assert patient_page.get_by_test_id("document-name").inner_text() == document.name
    screenshot(patient_page, "visits-welbox-report")
