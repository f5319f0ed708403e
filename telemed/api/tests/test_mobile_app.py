"""A phone app, played end to end: it opens the platform's own login in a browser view with a
PKCE challenge, the doctor logs in with password and authenticator code and allows the app; the
app trades the code for tokens, lists the consult queue, starts a consult and drafts its answer
(signing stays on the website: the API says where), refreshes its token, revokes it, and is
refused from then on."""

import base64
import hashlib
import secrets
import urllib.parse

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.models import AccessToken

from conftest import PASSWORD
from telemed.api.tests.conftest import REDIRECT_URI, bearer
from telemed.audit.models import AuditEntry
from telemed.consults.models import ConsultStatus

pytestmark = pytest.mark.django_db


def code_of(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(app, challenge: str, scope: str, state: str) -> str:
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{reverse('oauth2_provider:authorize')}?{query}"


def path_of(location: str) -> str:
    parts = urllib.parse.urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def authorize_as_doctor(browser: Client, app, doctor, device, *, scope: str) -> tuple[str, str]:
    """The doctor's part in the app's browser view; returns (authorization code, PKCE verifier)."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    start = authorize_url(app, challenge, scope, state)
    to_login = browser.get(start)
    assert to_login.status_code == 302 and to_login["Location"].startswith(reverse("accounts:login"))
    logged_in = browser.post(path_of(to_login["Location"]), {"username": doctor.email, "password": PASSWORD})
    assert logged_in.status_code == 302 and path_of(logged_in["Location"]) == start
    # The password alone does not reach the authorization page: the second factor comes first.
    to_code = browser.get(start)
    assert to_code.status_code == 302 and to_code["Location"].startswith(reverse("accounts:totp_verify"))
    verified = browser.post(path_of(to_code["Location"]), {"code": code_of(device)})
    assert verified.status_code == 302 and path_of(verified["Location"]) == start
    page = browser.get(start)
    assert page.status_code == 200
    assert "Read your consults and their messages" in page.content.decode()
    form = page.context["form"]
    fields = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    allowed = browser.post(start, {**fields, "allow": "Authorize"})
    assert allowed.status_code == 302
    back = urllib.parse.urlsplit(allowed["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
    answer = dict(urllib.parse.parse_qsl(back.query))
    assert answer["state"] == state
    assert answer["iss"].startswith("http")  # RFC 9207: the app can tell which server answered
    return answer["code"], verifier


def test_a_phone_app_logs_a_doctor_in_with_pkce_and_the_second_factor(mobile_app, consult_world):
    doctor, consult = consult_world["doctor"], consult_world["consult"]
    device = TOTPDevice.objects.create(user=doctor, name="phone", confirmed=True)
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    code, verifier = authorize_as_doctor(
        browser, mobile_app, doctor, device, scope="consults:read consults:write notifications:read"
    )

    app = Client(HTTP_ACCEPT_LANGUAGE="en")  # the app itself: no cookies of the browser view
    token_url = reverse("oauth2_provider:token")
    # Without the verifier the code is worthless (PKCE): and the refusal spends nothing.
    refused = app.post(
        token_url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": mobile_app.client_id,
        },
    )
    assert refused.status_code == 400
    issued = app.post(
        token_url,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": mobile_app.client_id,
            "code_verifier": verifier,
        },
    )
    assert issued.status_code == 200, issued.content
    tokens = issued.json()
    assert set(tokens["scope"].split()) == {"consults:read", "consults:write", "notifications:read"}
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    # Kept as checksums only: the database holds no usable token.
    assert not AccessToken.objects.filter(token=access).exists()
    assert AccessToken.objects.filter(user=doctor, token="").exists()

    me = app.get("/api/v1/me", **bearer(access))
    assert me.status_code == 200 and me.json()["id"] == doctor.pk and me.json()["role"] == "doctor"
    queue = app.get("/api/v1/consults", **bearer(access))
    assert queue.status_code == 200
    assert [item["id"] for item in queue.json()["items"]] == [consult.pk]
    detail = app.get(f"/api/v1/consults/{consult.pk}", **bearer(access))
    assert detail.status_code == 200
    assert detail.json()["question"] == "Ho dolore al petto da due giorni."
    assert [m["text"] for m in detail.json()["messages"]] == ["Aggiungo che ho anche febbre."]
    # The patient sees on their access log that the doctor read the consult through the app.
    assert AuditEntry.objects.filter(
        actor=doctor, action="view", target_type="consults.consult", target_id=str(consult.pk), patient=consult.patient
    ).exists()
    # A scope the app was not given: documents are not reachable with this token, and it is told
    # which scope to ask for.
    refused = app.get("/api/v1/documents", **bearer(access))
    assert (
        refused.status_code == 403
        and 'error="insufficient_scope", scope="documents:read"' in refused["WWW-Authenticate"]
    )

    started = app.post(f"/api/v1/consults/{consult.pk}/start", **bearer(access))
    assert started.status_code == 200 and started.json()["status"] == ConsultStatus.IN_PROGRESS
    answered = app.put(
        f"/api/v1/consults/{consult.pk}/answer",
        {"diagnosis": "Dolore toracico di origine muscolare.", "findings": "ECG nella norma.", "notes": "Riposo."},
        content_type="application/json",
        **bearer(access),
    )
    assert answered.status_code == 200, answered.content
    draft = answered.json()
    consult.refresh_from_db()
    assert draft["report_status"] == "draft"
    assert draft["sign_url"].endswith(reverse("reports:edit", args=[consult.report.public_id]))
    assert consult.report.diagnosis == "Dolore toracico di origine muscolare."
    # Nothing is answered until the doctor signs on the website.
    assert consult.status == ConsultStatus.IN_PROGRESS

    refreshed = app.post(
        token_url, {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": mobile_app.client_id}
    )
    assert refreshed.status_code == 200, refreshed.content
    new_access = refreshed.json()["access_token"]
    assert new_access != access
    assert app.get("/api/v1/consults", **bearer(new_access)).status_code == 200
    # The refresh token was rotated: the old one is spent.
    replayed = app.post(
        token_url, {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": mobile_app.client_id}
    )
    assert replayed.status_code == 400

    revoked = app.post(
        reverse("oauth2_provider:revoke-token"), {"token": new_access, "client_id": mobile_app.client_id}
    )
    assert revoked.status_code == 200
    gone = app.get("/api/v1/consults", **bearer(new_access))
    assert gone.status_code == 401
    assert gone["WWW-Authenticate"].startswith("Bearer")
    assert gone.json()["detail"] == "Log in first: this needs a valid access token."


def test_the_authorization_page_refuses_an_app_without_pkce(mobile_app, make_patient):
    patient = make_patient()
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(patient)
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": mobile_app.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "consults:read",
        }
    )
    page = browser.get(f"{reverse('oauth2_provider:authorize')}?{query}")
    # No code challenge: refused to the app's address, no code issued.
    assert page.status_code in (302, 400)
    if page.status_code == 302:
        assert "code=" not in page["Location"] and "error=" in page["Location"]
