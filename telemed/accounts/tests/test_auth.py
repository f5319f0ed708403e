"""Login, throttling, two-factor authentication for doctors and staff, and e-mail verification."""

import re
import time

import pytest
from django.core import signing
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import PASSWORD
from telemed.accounts import services

pytestmark = pytest.mark.django_db


def login(client, email, password=PASSWORD):
    return client.post(reverse("accounts:login"), {"username": email, "password": password})


def current_code(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def test_patient_logs_in_by_email_case_insensitively(client, make_patient):
    user = make_patient(email="anna@example.test")
    response = login(client, "ANNA@example.test")
    assert response.status_code == 302
    assert client.get(reverse("portal:dashboard")).context["user"] == user


def test_wrong_password_gives_a_translated_message(client, make_patient):
    make_patient(email="anna@example.test")
    response = login(client, "anna@example.test", "wrong-password")
    assert response.status_code == 200
    assert "La e-mail o la password non sono corrette" in response.content.decode()


def test_login_is_locked_after_five_failures(client, make_patient):
    make_patient(email="anna@example.test")
    for _ in range(5):
        login(client, "anna@example.test", "wrong-password")
    locked = login(client, "anna@example.test", PASSWORD)
    assert locked.status_code == 429
    assert "15 minuti" in locked.content.decode()
    assert client.get(reverse("portal:dashboard")).status_code == 302  # still not logged in


def test_doctor_must_enrol_totp_before_anything_else(client, make_doctor):
    doctor = make_doctor(email="doc@example.test")
    login(client, "doc@example.test")
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:totp_verify"))
    assert client.get(response["Location"])["Location"] == reverse("accounts:totp_setup")

    setup = client.get(reverse("accounts:totp_setup"))
    assert setup.status_code == 200
    assert setup.context["qr"].startswith("data:image/svg+xml")
    device = TOTPDevice.objects.get(user=doctor, confirmed=False)

    wrong = client.post(
        reverse("accounts:totp_setup"), {"code": "000000" if current_code(device) != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and "Il codice non è corretto" in wrong.content.decode()
    bad_shape = client.post(reverse("accounts:totp_setup"), {"code": "12ab"})
    assert bad_shape.status_code == 400 and "6 cifre" in bad_shape.content.decode()

    time.sleep(1.1)  # django-otp's back-off after a wrong code
    ok = client.post(reverse("accounts:totp_setup"), {"code": current_code(device)})
    assert ok.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("portal:dashboard")).status_code == 200


def test_doctor_with_device_is_asked_for_the_code_at_each_login(client, make_doctor):
    doctor = make_doctor(email="doc@example.test")
    device = TOTPDevice.objects.create(user=doctor, name="phone", confirmed=True)
    login(client, "doc@example.test")
    gate = client.get(reverse("portal:dashboard"))
    assert gate["Location"].startswith(reverse("accounts:totp_verify"))
    refused = client.post(
        reverse("accounts:totp_verify"), {"code": "123456" if current_code(device) != "123456" else "654321"}
    )
    assert refused.status_code == 400 and "Il codice non è corretto" in refused.content.decode()
    too_soon = client.post(reverse("accounts:totp_verify"), {"code": current_code(device)})
    assert too_soon.status_code == 400 and "Troppi codici errati" in too_soon.content.decode()
    time.sleep(2.1)  # django-otp's back-off after two failures
    ok = client.post(
        reverse("accounts:totp_verify") + "?next=/dashboard/", {"code": current_code(device), "next": "/dashboard/"}
    )
    assert ok.status_code == 302 and ok["Location"] == "/dashboard/"
    assert client.get(reverse("portal:dashboard")).status_code == 200


def test_totp_verify_does_not_redirect_off_site(client, make_doctor):
    doctor = make_doctor(email="doc@example.test")
    device = TOTPDevice.objects.create(user=doctor, name="phone", confirmed=True)
    login(client, "doc@example.test")
    response = client.post(
        reverse("accounts:totp_verify"), {"code": current_code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("portal:dashboard")


def test_staff_reach_the_back_office_only_past_the_second_factor(client):
    from telemed.accounts.models import User

    staff = User.objects.create_superuser("ops@example.test", PASSWORD, first_name="Ops", last_name="telemed")
    # Logging in on the back office's own form is not enough either.
    response = client.post(
        reverse("admin:login"), {"username": "ops@example.test", "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    gate = client.get("/admin/")
    assert gate.status_code == 302 and gate["Location"].startswith(reverse("accounts:totp_verify"))
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 302
    assert client.get(gate["Location"])["Location"] == reverse("accounts:totp_setup")

    client.get(reverse("accounts:totp_setup"))
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    ok = client.post(
        reverse("accounts:totp_setup") + "?next=/admin/", {"code": current_code(device), "next": "/admin/"}
    )
    # The recovery codes are shown once, then the page the staff member was going to.
    assert ok.status_code == 302 and ok["Location"] == reverse("accounts:recovery_codes") + "?next=%2Fadmin%2F"
    assert client.get(ok["Location"]).context["next"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_patients_are_not_asked_for_a_second_factor(client, make_patient):
    make_patient(email="anna@example.test")
    login(client, "anna@example.test")
    assert client.get(reverse("portal:dashboard")).status_code == 200


def test_verification_email_reaches_a_real_smtp_server_and_verifies(client, make_patient, run_tasks, smtp_settings):
    user = make_patient(email="anna@example.test")
    run_tasks()
    message = smtp_settings.wait_for("anna@example.test")
    assert "Conferma il tuo indirizzo e-mail" in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/account/verify-email/\S+/", body).group(0)
    response = client.get(link[link.index("/account/") :])
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.email_verified


@pytest.mark.parametrize("token", ["nonsense", "a" * 3000, "..%2F..%2Fetc%2Fpasswd", "%00%ff"])
def test_bad_verification_tokens_are_refused_cleanly(client, token):
    response = client.get(f"/account/verify-email/{token}/")
    # A token with a slash in it matches no page at all; any other is read and refused.
    assert response.status_code == (404 if "%2F" in token else 400)
    if response.status_code == 400:
        assert "non è valido" in response.content.decode()


def test_verification_token_for_a_changed_email_is_refused(client, make_patient):
    user = make_patient(email="anna@example.test")
    token = services.email_verification_token(user)
    user.email = "new@example.test"
    user.save()
    assert client.get(reverse("accounts:verify_email", args=[token])).status_code == 400
    user.refresh_from_db()
    assert not user.email_verified


def test_expired_verification_token(client, make_patient, monkeypatch):
    user = make_patient(email="anna@example.test")
    token = services.email_verification_token(user)
    real_loads = signing.loads
    monkeypatch.setattr(signing, "loads", lambda *a, **k: real_loads(*a, **{**k, "max_age": -1}))
    response = client.get(reverse("accounts:verify_email", args=[token]))
    assert response.status_code == 400 and "scaduto" in response.content.decode()


def test_logout_needs_post(client, make_patient):
    make_patient(email="anna@example.test")
    login(client, "anna@example.test")
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert client.get(reverse("portal:dashboard")).status_code == 302


def test_password_reset_by_email_through_a_real_smtp_server(client, make_patient, run_tasks, smtp_settings):
    make_patient(email="anna@example.test")
    response = client.post(reverse("accounts:password_reset"), {"email": "ANNA@example.test"})
    assert response.status_code == 200
    # The same answer for an address without an account: no way to probe who is registered.
    unknown = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.test"})

    def page_text(r, email):
        return re.sub(r'value="[^"]+"', "", r.content.decode()).replace(email, "EMAIL")

    assert page_text(unknown, "nobody@example.test") == page_text(response, "ANNA@example.test")
    run_tasks()
    body = (
        smtp_settings.wait_for("anna@example.test", subject="nuova password")
        .get_body(preferencelist=("plain",))
        .get_content()
    )
    link = re.search(r"https?://\S+(/account/password-reset/\S+/)", body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and form_page.context["validlink"]
    new_password = "another-Long-passw0rd"
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302
    assert login(client, "anna@example.test", new_password).status_code == 302
    # The link works once.
    client.post(reverse("accounts:logout"))
    assert not client.get(link, follow=True).context["validlink"]
