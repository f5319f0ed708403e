"""telemed as an installed app, in Chromium: the service worker shows a push delivered to it, and
offline a page is answered with the offline page while no private page is kept on the device.

Headless Chromium has no push service, so ``PushManager.subscribe()`` cannot succeed here: the
push is handed straight to the service worker through the DevTools protocol
(``ServiceWorker.deliverPushMessage``). The server's side (encryption, VAPID, the push service's
answers) is tested in telemed/notifications/tests/test_webpush.py."""

import json
import time

from tests.browser.conftest import screenshot
from tests.browser.test_messaging import log_in

CACHED_PATHS = """async () => {
  const paths = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) paths.push(new URL(request.url).pathname);
  }
  return paths;
}"""


def wait_for_registration(cdp, events: list, origin: str, timeout: float = 15) -> str:
    """The id of the origin's service worker registration, from the DevTools events."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for registration in events:
            if registration["scopeURL"] == origin + "/" and not registration.get("isDeleted"):
                return registration["registrationId"]
        cdp.send("Runtime.evaluate", {"expression": "1"})  # lets Playwright dispatch the events received
    raise AssertionError(f"no service worker registration for {origin}: {events}")


SHOWN = """async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({title: n.title, body: n.body, url: n.data.url}))"""


def wait_for_notification(page, title: str, timeout: float = 15) -> dict:
    """The notification with ``title`` the worker shows (page.wait_for_function does not await)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for shown in page.evaluate(SHOWN):
            if shown["title"] == title:
                return shown
        page.wait_for_timeout(100)
    raise AssertionError(f"no notification {title!r}: {page.evaluate(SHOWN)}")


def push_shown(page, cdp, origin: str, registration_id: str, payload: dict) -> dict:
    """``payload`` pushed to the page's worker through DevTools; the notification it shows. Once in
    a while (once in CI) DevTools' delivery reaches no worker and nothing is shown: it is sent
    again, up to three times; what the worker shows for it is what is checked."""
    for _attempt in range(3):
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": origin, "registrationId": registration_id, "data": json.dumps(payload)},
        )
        try:
            return wait_for_notification(page, payload["title"], timeout=10)
        except AssertionError:
            continue
    raise AssertionError(f"no notification {payload['title']!r}: {page.evaluate(SHOWN)}")


def test_the_service_worker_shows_a_push_and_answers_offline(new_page, make_patient, live_platform):
    patient = make_patient(email="push.paziente@example.test", first_name="Sara")
    page = new_page(viewport={"width": 375, "height": 740})
    page.context.grant_permissions(["notifications"], origin=live_platform)
    log_in(page, patient)

    # The preferences page offers this device's notifications; the worker controls the page.
    page.goto("/notifications/preferences/")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    status = page.get_by_test_id("push-status")
    page.wait_for_function("document.querySelector('[data-push-status]').dataset.state === 'off'")
    assert page.locator("[data-push-enable] button").is_visible()
    assert page.locator("[data-push-disable] button").is_hidden()
    assert status.inner_text().strip()
    screenshot(page, "installable-push-preferences")

    # A push delivered to the worker becomes a notification with the payload's title.
    cdp = page.context.new_cdp_session(page)
    registrations = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    registration_id = wait_for_registration(cdp, registrations, live_platform)
    payload = {
        "title": "Promemoria",
        "body": "Novità per te su telemed.",
        "url": "/notifications/",
        "tag": "notification-1",
    }
    assert push_shown(page, cdp, live_platform, registration_id, payload) == {
        "title": "Promemoria",
        "body": "Novità per te su telemed.",
        "url": "/notifications/",
    }
    # A push pointing to another site is shown with a link home instead.
    elsewhere = {"title": "Altrove", "url": "https://evil.example/phish", "tag": "notification-2"}
    assert push_shown(page, cdp, live_platform, registration_id, elsewhere)["url"] == "/"
    cdp.detach()

    # Private pages visited online are not kept: only the offline page and its static files are.
    page.goto("/notifications/")
    page.goto("/dashboard/")
    cached = page.evaluate(CACHED_PATHS)
    assert "/offline/" in cached
    assert all(path == "/offline/" or path.startswith("/static/") for path in cached), cached

    # Offline, a page is answered with the offline page.
    page.context.set_offline(True)
    try:
        page.goto("/messages/")
        page.get_by_test_id("offline-page").wait_for()
        screenshot(page, "installable-offline")
        assert "Sara" not in page.content()
    finally:
        page.context.set_offline(False)
    page.goto("/dashboard/")
    page.wait_for_url("**/dashboard/")
    assert page.get_by_test_id("offline-page").count() == 0


def test_the_manifest_makes_it_installable(page, live_platform):
    page.goto("/")
    href = page.locator("link[rel=manifest]").get_attribute("href")
    manifest = page.request.get(href).json()
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/dashboard/"
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        response = page.request.get(icon["src"])
        assert response.ok and response.headers["content-type"] == "image/png"
    apple = page.locator("link[rel=apple-touch-icon]").get_attribute("href")
    assert page.request.get(apple).ok
