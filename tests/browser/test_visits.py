"""A video visit end to end in two real headless Chromium instances with fake camera and
microphone: device check, waiting room, admission, media both ways (proved by getStats), chat both
ways, and after the doctor signs the report the patient finds it in the Welbox."""

import datetime
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from conftest import image_bytes
from telemed.billing.tariffs import tariff_set
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
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.neri@example.test", first_name="Paolo", last_name="Neri"
    )
    patient = make_patient(email="sara@example.test", first_name="Sara", last_name="Galli")
    off_the_loop(
        tariff_set, actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("40.00"), duration_minutes=30
    )
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
    # "left" may last only until the reloaded page is back: every state the doctor's room
    # passes through is recorded, so a short one is not missed between two polls.
    doctor_page.locator("[data-testid=visit-room]").evaluate(
        "room => { window.peerStates = []; new MutationObserver(() => window.peerStates.push(room.dataset.peer))"
        ".observe(room, {attributes: true, attributeFilter: ['data-peer']}); }"
    )
    patient_page.reload()
    doctor_page.wait_for_function("window.peerStates.includes('left')")
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
    assert (
        "Partecipanti" in report_page.get_by_test_id("visit-record").inner_text()
        or "Participants" in report_page.get_by_test_id("visit-record").inner_text()
    )
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


# Every local track and the peer connection, as the page holds them.
MEDIA_STATE = """() => {
  const room = window.telemedRoom;
  return {
    tracks: room.stream ? room.stream.getTracks().map((t) => t.readyState) : [],
    connection: room.pc ? room.pc.connectionState : null,
    signaling: room.pc ? room.pc.signalingState : null,
  };
}"""


def _visit_now(doctor, patient) -> Booking:
    off_the_loop(
        tariff_set, actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("40.00"), duration_minutes=30
    )
    start = timezone.now() + datetime.timedelta(minutes=5)

    def book():
        return Booking.objects.create(
            doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30), duration_minutes=30,
            breakdown=visits.visit_quote(doctor=doctor).to_dict(), accepted_at=timezone.now(),
        )  # fmt: skip

    return off_the_loop(book)


def test_ending_the_call_turns_camera_and_microphone_off_on_both_sides(
    media_browsers, live_platform, transactional_db, reference_data, make_doctor, make_patient
):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.fine@example.test", first_name="Marco", last_name="Fini"
    )
    patient = make_patient(email="anna.fine@example.test", first_name="Anna", last_name="Conti")
    booking = _visit_now(doctor, patient)
    room = f"/visits/{booking.pk}/room/"
    doctor_page = open_page(media_browsers[0], live_platform)
    patient_page = open_page(media_browsers[1], live_platform)
    log_in(doctor_page, doctor)
    log_in(patient_page, patient)
    patient_page.goto(room)
    patient_page.locator("button[name=ready]:not([disabled])").click()
    doctor_page.goto(room)
    doctor_page.locator("button[name=admit]").click()
    for page in (doctor_page, patient_page):
        page.locator("[data-testid=visit-room][data-connection=connected]").wait_for(timeout=30000)
        assert set(page.evaluate(MEDIA_STATE)["tracks"]) == {"live"}

    # The doctor ends the call: on both sides every track stops and the connection closes.
    doctor_page.locator("button[name=end]").click()
    for page in (doctor_page, patient_page):
        page.locator("[data-testid=visit-room][data-state=ended]").wait_for()
        state = page.evaluate(MEDIA_STATE)
        assert len(state["tracks"]) == 2 and set(state["tracks"]) == {"ended"}, state
        assert state["connection"] == "closed" and state["signaling"] == "closed", state
        assert page.locator("button[name=end]").count() == 0 or page.locator("button[name=end]").is_hidden()
        assert (
            page.get_by_text("Termina la chiamata").count() == 0
            or not page.get_by_text("Termina la chiamata").is_visible()
        )
        assert page.get_by_test_id("room-next").is_visible()
    screenshot(doctor_page, "visits-call-ended-doctor")
    screenshot(patient_page, "visits-call-ended-patient")

    # What comes next: the patient goes to the visit, the doctor to the report.
    patient_page.get_by_test_id("next-visit").click()
    patient_page.wait_for_url(f"**/visits/{booking.pk}/")
    assert patient_page.get_by_test_id("report-coming").is_visible()
    doctor_page.get_by_test_id("next-report").click()
    doctor_page.wait_for_url(f"**/visits/{booking.pk}/report/")


def test_the_report_of_a_finished_visit_is_reached_from_the_visit_and_carries_a_prescription(
    new_page, make_doctor, make_patient
):
    off_the_loop(signing.certificate_authority_create, name="telemed Visit Report Test CA")
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.referto@example.test", first_name="Irene", last_name="Sala"
    )
    patient = make_patient(email="gino.referto@example.test", first_name="Gino", last_name="Pace")
    device = off_the_loop(signing.signing_device_enrol_start, actor=doctor)
    off_the_loop(signing.signing_device_confirm, actor=doctor, code=code_for(device, time.time()))
    booking = _visit_now(doctor, patient)
    # The call took place an hour ago and the doctor closed it; the room is closed now.
    started = timezone.now() - datetime.timedelta(hours=2)
    Booking.objects.filter(pk=booking.pk).update(
        start=started, end=started + datetime.timedelta(minutes=30), admitted_at=started,
        ended_at=started + datetime.timedelta(minutes=25), status="ended",
    )  # fmt: skip

    # The doctor comes back to the room's address: it is closed, and it leads to the report.
    doctor_page = new_page()
    log_in(doctor_page, doctor)
    doctor_page.goto(f"/visits/{booking.pk}/room/")
    doctor_page.get_by_test_id("room-closed").wait_for()
    screenshot(doctor_page, "visits-room-closed-report-link")
    doctor_page.goto(f"/visits/{booking.pk}/")
    doctor_page.get_by_test_id("visit-report-todo").wait_for()
    doctor_page.get_by_test_id("write-report").click()
    doctor_page.wait_for_url(f"**/visits/{booking.pk}/report/")
    doctor_page.locator("textarea[name=diagnosis]").fill("Faringite acuta")
    doctor_page.locator("input[name='therapy-0-drug']").fill("Ibuprofene 400 mg")
    doctor_page.locator("input[name='therapy-0-schedule']").fill("1 compressa dopo i pasti, al bisogno")
    doctor_page.locator("input[name='therapy-0-duration']").fill("5 giorni")
    doctor_page.locator("input[name=statement][value=adequate]").check()
    doctor_page.locator("button[name=save]").click()
    assert doctor_page.locator("input[name='therapy-0-drug']").input_value() == "Ibuprofene 400 mg"
    screenshot(doctor_page, "visits-report-with-prescription")
    doctor_page.locator("input[name=code]").fill(code_for(device, time.time() + 30))
    doctor_page.locator("button[name=sign]").click()
    doctor_page.wait_for_url(f"**/visits/{booking.pk}/")

    # The visit page now leads to the signed report, with its prescription, for both.
    doctor_page.get_by_test_id("visit-report-link").get_by_role("link").click()
    doctor_page.wait_for_url("**/reports/*/")
    assert "Ibuprofene 400 mg" in doctor_page.locator("main").inner_text()
    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.goto(f"/visits/{booking.pk}/room/")
    patient_page.get_by_test_id("visit-report-link").click()
    patient_page.wait_for_url("**/reports/*/")
    assert "Ibuprofene 400 mg" in patient_page.locator("main").inner_text()
    screenshot(patient_page, "visits-report-patient")
