"""Web push end to end on the server side: a local HTTP server plays the push service, and
decrypts what it receives with the keys of the browser it stands for (RFC 8291, aes128gcm);
the VAPID signature (RFC 8292) is checked with the platform's public key."""

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from py_vapid import Vapid02

from conftest import log_in
from telemed.notifications import kinds, presence, services, webpush
from telemed.notifications.models import Notification, PushSubscription
from telemed.outbox.models import SentMessage

pytestmark = pytest.mark.django_db


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakePushService:
    """A push service on 127.0.0.1: records each POST and answers with the next status given."""

    def __init__(self):
        self.received: list[dict] = []
        self.answers: list[int] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                service.received.append({"path": self.path, "headers": self.headers, "body": body})
                self.send_response(service.answers.pop(0) if service.answers else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """What a browser keeps for a subscription: its P-256 key pair and its auth secret."""

    def __init__(self):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.p256dh = b64url(public)
        self.auth = b64url(self.auth_secret)

    def decrypt(self, body: bytes) -> dict:
        return json.loads(
            http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm")
        )


@pytest.fixture
def push_service():
    with FakePushService() as service:
        yield service


@pytest.fixture(autouse=True)
def a_kind():
    kinds.register("test_kind", "Test things")


def subscribe(user, endpoint: str, browser: Browser) -> PushSubscription:
    return services.push_subscription_save(
        actor=user, endpoint=endpoint, p256dh=browser.p256dh, auth=browser.auth, label="Chrome · Android"
    )


def test_a_reminder_is_pushed_encrypted_once_and_a_gone_device_is_forgotten(
    make_patient, push_service, run_tasks_twice
):
    patient = make_patient()
    run_tasks_twice()  # the registration e-mail
    browser = Browser()
    subscription = subscribe(patient, f"{push_service.url}/push/device-1", browser)

    notification = services.notify(
        recipient=patient, kind="reminder", title="Cardioaspirina 100 mg alle 8:00", url="/reminders/"
    )
    # Run twice (a worker died after the push): the push service hears it once.
    assert "send_notification_push" in run_tasks_twice()
    assert len(push_service.received) == 1
    request = push_service.received[0]
    assert request["path"] == "/push/device-1"
    assert request["headers"]["Content-Encoding"] == "aes128gcm"
    assert int(request["headers"]["TTL"]) > 0
    # Signed with the platform's VAPID key, for this push service.
    authorization = request["headers"]["Authorization"]
    assert authorization.startswith("vapid ") and f"k={webpush.vapid_public_key()}" in authorization
    assert Vapid02.verify(authorization)
    # Only the browser's keys open it; it names the kind of news and the link, nothing clinical.
    data = browser.decrypt(request["body"])
    with translation.override("it"):  # in the patient's language
        assert (data["title"], data["lang"]) == (str(kinds.get("reminder").label), "it")
    assert data["url"] == reverse("notifications:open", args=[notification.pk])
    assert "Cardioaspirina" not in json.dumps(data) and "8:00" not in json.dumps(data)
    subscription.refresh_from_db()
    assert subscription.last_success_at is not None

    # The next push: the service says the device is gone (410), and the platform forgets it.
    push_service.answers.append(410)
    services.notify(recipient=patient, kind="message", title="Nuovo messaggio", url="/messages/")
    run_tasks_twice()
    assert len(push_service.received) == 2
    assert not PushSubscription.objects.filter(pk=subscription.pk).exists()
    # No device left: no push task either.
    services.notify(recipient=patient, kind="message", title="Un altro", url="/messages/")
    assert "send_notification_push" not in run_tasks_twice()


def test_a_failed_push_is_tried_again_once_per_attempt(make_patient, push_service, run_tasks_twice):
    from django_tasks_db.models import DBTaskResult

    patient = make_patient()
    run_tasks_twice()
    browser = Browser()
    subscribe(patient, f"{push_service.url}/push/device-2", browser)
    push_service.answers.extend([503, 503])  # both runs of the first attempt fail
    notification = services.notify(recipient=patient, kind="message", title="t", url="/messages/")
    assert "send_notification_push" in run_tasks_twice()
    assert len(push_service.received) == 2  # the claim was rolled back: the second run tried too
    retries = DBTaskResult.objects.filter(task_path__endswith="send_notification_push", status="READY")
    assert [r.args_kwargs["kwargs"] for r in retries] == [{"notification_id": notification.pk, "attempt": 2}]
    retries.update(run_after=timezone.now())  # as if its delay had passed
    assert run_tasks_twice() == ["send_notification_push"]
    assert len(push_service.received) == 3  # delivered on the retry, once
    assert browser.decrypt(push_service.received[-1]["body"])["tag"] == f"notification-{notification.pk}"
    assert SentMessage.objects.filter(key__startswith=f"push:{notification.pk}:").count() == 1


def test_preferences_presence_and_reading_stop_pushes(make_patient, push_service, run_tasks):
    patient = make_patient()
    run_tasks()
    subscribe(patient, f"{push_service.url}/p", Browser())
    services.notification_preferences_set(actor=patient, email={}, push={"test_kind": False})
    services.notify(recipient=patient, kind="test_kind", title="muted")
    presence.mark_online(patient.pk)
    services.notify(recipient=patient, kind="message", title="online")
    presence.mark_offline(patient.pk)
    read = services.notify(recipient=patient, kind="message", title="read before the push")
    Notification.objects.filter(pk=read.pk).update(read_at=read.created_at)
    run_tasks()
    assert push_service.received == []
    # The push choice does not touch the e-mail one, nor the other way round.
    services.email_preferences_set(actor=patient, choices={"test_kind": False})
    prefs = {row["code"]: row for row in services.selectors.email_preferences_of(patient)}
    assert (prefs["test_kind"]["email"], prefs["test_kind"]["push"]) == (False, False)


def test_subscribe_and_unsubscribe_endpoints(make_patient, make_doctor, push_service):
    patient = make_patient()
    client = log_in(Client(enforce_csrf_checks=False, HTTP_ACCEPT_LANGUAGE="en"), patient)
    url = reverse("notifications:push_subscribe")
    browser = Browser()
    good = {"endpoint": f"{push_service.url}/s", "keys": {"p256dh": browser.p256dh, "auth": browser.auth}}
    bad_inputs = [
        b"not json",
        b"[]",
        json.dumps({"endpoint": 5}).encode(),
        json.dumps({**good, "endpoint": "https://evil.example/steal"}).encode(),
        json.dumps({**good, "endpoint": "file:///etc/passwd"}).encode(),
        json.dumps({**good, "keys": {"p256dh": "abc", "auth": browser.auth}}).encode(),
        json.dumps({**good, "keys": {"p256dh": browser.p256dh, "auth": b64url(b"short")}}).encode(),
        json.dumps({**good, "keys": {"p256dh": None, "auth": None}}).encode(),
        json.dumps({**good, "keys": "x"}).encode(),
    ]
    for body in bad_inputs:
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 400, body
        assert response.json()["ok"] is False and response.json()["error"]
    assert not PushSubscription.objects.exists()

    response = client.post(
        url,
        json.dumps(good),
        content_type="application/json",
        HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) Chrome/131.0",
    )
    assert response.status_code == 200 and response.json() == {"ok": True}
    subscription = PushSubscription.objects.get()
    assert (subscription.user, subscription.label) == (patient, "Chrome · Android")
    # The same browser, another user: the device is theirs now.
    other = make_patient()
    other_client = log_in(Client(), other)
    assert other_client.post(url, json.dumps(good), content_type="application/json").status_code == 200
    assert PushSubscription.objects.get().user == other
    # The first user cannot take it away from them.
    gone = client.post(
        reverse("notifications:push_unsubscribe"),
        json.dumps({"endpoint": good["endpoint"]}),
        content_type="application/json",
    )
    assert gone.json() == {"ok": True, "removed": 0} and PushSubscription.objects.count() == 1
    gone = other_client.post(
        reverse("notifications:push_unsubscribe"),
        json.dumps({"endpoint": good["endpoint"]}),
        content_type="application/json",
    )
    assert gone.json() == {"ok": True, "removed": 1} and not PushSubscription.objects.exists()
    assert (
        other_client.post(reverse("notifications:push_unsubscribe"), b"{", content_type="application/json").status_code
        == 400
    )

    # Not logged in: a clear 401, nothing stored; without the CSRF token: refused.
    anonymous = Client()
    assert anonymous.post(url, json.dumps(good), content_type="application/json").status_code == 401
    strict = log_in(Client(enforce_csrf_checks=True), patient)
    assert strict.post(url, json.dumps(good), content_type="application/json").status_code == 403
    assert not PushSubscription.objects.exists()


def test_the_preferences_page_saves_both_channels_and_removes_a_device(make_patient, push_service):
    patient = make_patient()
    subscription = subscribe(patient, f"{push_service.url}/d", Browser())
    client = log_in(Client(HTTP_ACCEPT_LANGUAGE="en"), patient)
    page = client.get(reverse("notifications:preferences"))
    assert page.status_code == 200
    assert f'data-vapid-key="{webpush.vapid_public_key()}"' in page.content.decode()
    assert "Chrome · Android" in page.content.decode()
    response = client.post(reverse("notifications:preferences"), {"email_message": "on", "push_reminder": "on"})
    assert response.status_code == 302
    prefs = {row["code"]: (row["email"], row["push"]) for row in services.selectors.email_preferences_of(patient)}
    assert prefs["message"] == (True, False) and prefs["reminder"] == (False, True)
    for device in ["abc", str(subscription.pk + 1000), ""]:
        assert client.post(reverse("notifications:push_device_remove"), {"device": device}).status_code == 302
    assert PushSubscription.objects.filter(pk=subscription.pk).exists()
    client.post(reverse("notifications:push_device_remove"), {"device": subscription.pk})
    assert not PushSubscription.objects.filter(pk=subscription.pk).exists()


def test_which_push_services_are_accepted(settings):
    settings.PUSH_ALLOW_LOOPBACK = False
    allowed = [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/x",
        "https://web.push.apple.com/Q",
    ]
    refused = [
        "http://127.0.0.1:8000/x", "https://127.0.0.1/x", "https://evil.example/x", "https://fcm.googleapis.com.evil.example/x",
        "https://user:pw@fcm.googleapis.com/x", "javascript:alert(1)", "https://fcm.googleapis.com:99999/x", "",
    ]  # fmt: skip
    assert all(webpush.endpoint_allowed(url) for url in allowed)
    assert not any(webpush.endpoint_allowed(url) for url in refused)
    settings.PUSH_ALLOW_LOOPBACK = True
    assert webpush.endpoint_allowed("http://127.0.0.1:8000/x") and not webpush.endpoint_allowed("http://10.0.0.1/x")


def test_device_labels():
    assert (
        webpush.device_label(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605 Version/17.4 Mobile/15E148 Safari/604.1"
        )
        == "Safari · iPhone"
    )
    assert (
        webpush.device_label("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0")
        == "Edge · Windows"
    )
    assert webpush.device_label("") == ""


def test_the_development_key_pair_is_made_once(tmp_path):
    first = webpush._development_key(tmp_path)
    again = webpush._development_key(tmp_path)
    assert webpush._public_key_of(first) == webpush._public_key_of(again)
    assert len(base64.urlsafe_b64decode(webpush._public_key_of(first) + "=")) == 65
    assert [p.name for p in tmp_path.iterdir()] == [webpush.DEVELOPMENT_KEY_FILE]


def test_a_wrong_key_pair_is_reported_at_startup(settings):
    from telemed.notifications.checks import vapid_keys_check

    key = ec.generate_private_key(ec.SECP256R1())
    private = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    public = b64url(
        key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    settings.PUSH_VAPID_PUBLIC_KEY, settings.PUSH_VAPID_PRIVATE_KEY = public, private
    assert vapid_keys_check(None) == [] and webpush.vapid_public_key() == public
    settings.PUSH_VAPID_PUBLIC_KEY = Browser().p256dh  # another key's public half
    assert [e.id for e in vapid_keys_check(None)] == ["notifications.E001"]
    settings.PUSH_VAPID_PUBLIC_KEY, settings.PUSH_VAPID_PRIVATE_KEY = public, "not-a-key"
    assert [e.id for e in vapid_keys_check(None)] == ["notifications.E001"]


def test_vapid_keys_prints_a_pair_that_passes_the_startup_check(settings):
    import io

    from django.core.management import call_command

    from telemed.notifications.checks import vapid_keys_check

    out = io.StringIO()
    call_command("vapid_keys", stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    settings.PUSH_VAPID_PUBLIC_KEY = lines["TELEMED_VAPID_PUBLIC_KEY"]
    settings.PUSH_VAPID_PRIVATE_KEY = lines["TELEMED_VAPID_PRIVATE_KEY"]
    assert vapid_keys_check(None) == []
