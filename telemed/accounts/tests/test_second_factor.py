"""The second factor against a stolen password: enrolment only without an authenticator, replacement
only past it, recovery codes, a per-account lockout of wrong codes, and every change told."""

import datetime
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import PASSWORD, log_in
from telemed.accounts import second_factor
from telemed.accounts.models import AccountSession, SecondFactorThrottle, SecurityEvent, SecurityEventKind, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_device_backoff(settings):
    # django-otp's own back-off per device (1 s, 2 s, 4 s…) would make these tests wait; the
    # per-account lockout under test is separate from it.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


def code_of(device: TOTPDevice, offset: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


def wrong_code_of(device: TOTPDevice) -> str:
    right = {code_of(device, offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def password_login(email: str) -> Client:
    client = Client()
    assert client.post(reverse("accounts:login"), {"username": email, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def doctor_with_app(make_doctor):
    doctor = make_doctor(email="doc@example.test")
    device = TOTPDevice.objects.create(user=doctor, name="phone", confirmed=True)
    return doctor, device


def test_stolen_password_cannot_enrol_a_new_authenticator_over_the_real_one(doctor_with_app):
    doctor, real = doctor_with_app
    thief = password_login("doc@example.test")
    setup = thief.get(reverse("accounts:totp_setup"))
    assert setup.status_code == 302 and setup["Location"].startswith(reverse("accounts:totp_verify"))
    # Even a forged pending device and its code get nowhere.
    forged = TOTPDevice.objects.create(user=doctor, name="thief", confirmed=False)
    posted = thief.post(reverse("accounts:totp_setup"), {"code": code_of(forged)})
    assert posted.status_code == 302 and posted["Location"].startswith(reverse("accounts:totp_verify"))
    with pytest.raises(PermissionDenied):
        second_factor.totp_enrolment_confirm(request=_request_for(thief, doctor), device=forged, code=code_of(forged))
    assert list(TOTPDevice.objects.filter(user=doctor, confirmed=True)) == [real]
    assert thief.get(reverse("portal:dashboard"))["Location"].startswith(reverse("accounts:totp_verify"))
    assert thief.get(reverse("boxes:home") if _has_url("boxes:home") else "/boxes/").status_code == 302


def test_stolen_password_cannot_replace_the_authenticator_either(doctor_with_app):
    doctor, real = doctor_with_app
    thief = password_login("doc@example.test")
    replace = thief.get(reverse("accounts:totp_replace"))
    assert replace.status_code == 302 and replace["Location"].startswith(reverse("accounts:totp_verify"))
    assert thief.post(reverse("accounts:totp_replace"), {"password": PASSWORD, "new_code": "123456"}).status_code == 302
    assert list(TOTPDevice.objects.filter(user=doctor, confirmed=True)) == [real]


def test_stolen_password_of_staff_cannot_reach_the_back_office_through_setup():
    staff = User.objects.create_superuser("ops@example.test", PASSWORD, first_name="Ops", last_name="telemed")
    TOTPDevice.objects.create(user=staff, name="phone", confirmed=True)
    thief = password_login("ops@example.test")
    assert thief.get(reverse("accounts:totp_setup"))["Location"].startswith(reverse("accounts:totp_verify"))
    assert thief.get("/admin/").status_code == 302
    assert thief.get(reverse("admin:accounts_user_changelist")).status_code == 302


def _request_for(client: Client, user):
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().post("/")
    request.user = user
    request.user.is_verified = lambda: False
    request.session = SessionStore(client.cookies["sessionid"].value)
    return request


def _has_url(name: str) -> bool:
    from django.urls import NoReverseMatch

    try:
        reverse(name)
    except NoReverseMatch:
        return False
    return True


def test_wrong_codes_lock_the_second_factor_across_sessions(doctor_with_app, settings):
    doctor, device = doctor_with_app
    wrong = wrong_code_of(device)
    for _ in range(settings.SECOND_FACTOR_FAILURE_LIMIT):
        # Each guess from a new login: a per-session counter would never trip.
        refused = password_login("doc@example.test").post(reverse("accounts:totp_verify"), {"code": wrong})
        assert refused.status_code == 400
    fresh = password_login("doc@example.test")
    locked = fresh.post(reverse("accounts:totp_verify"), {"code": code_of(device)})
    assert locked.status_code == 400 and "15 minuti" in locked.content.decode()
    assert fresh.get(reverse("portal:dashboard")).status_code == 302
    # Recovery codes are locked out as well.
    assert fresh.post(reverse("accounts:totp_verify"), {"code": "aaaa-bbbb-cccc-dddd"}).status_code == 400
    assert SecurityEvent.objects.filter(user=doctor, kind=SecurityEventKind.SECOND_FACTOR_LOCKED).count() == 1

    # After the cool-off the right code works again.
    SecondFactorThrottle.objects.filter(user=doctor).update(
        last_failure_at=timezone.now() - datetime.timedelta(minutes=16)
    )
    device.refresh_from_db()
    ok = fresh.post(reverse("accounts:totp_verify"), {"code": code_of(device)})
    assert ok.status_code == 302
    assert fresh.get(reverse("portal:dashboard")).status_code == 200


def test_a_right_code_resets_the_count_of_wrong_ones(doctor_with_app, settings):
    doctor, device = doctor_with_app
    client = password_login("doc@example.test")
    for _ in range(settings.SECOND_FACTOR_FAILURE_LIMIT - 1):
        client.post(reverse("accounts:totp_verify"), {"code": wrong_code_of(device)})
    assert client.post(reverse("accounts:totp_verify"), {"code": code_of(device)}).status_code == 302
    assert SecondFactorThrottle.objects.get(user=doctor).failures == 0


def _enrol(client: Client, user) -> tuple[TOTPDevice, list[str]]:
    client.get(reverse("accounts:totp_setup"))
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    done = client.post(reverse("accounts:totp_setup"), {"code": code_of(device)})
    assert done.status_code == 302 and done["Location"].startswith(reverse("accounts:recovery_codes"))
    page = client.get(done["Location"])
    codes = page.context["codes"]
    # Shown once only.
    assert client.get(reverse("accounts:recovery_codes")).status_code == 302
    return device, codes


def test_first_enrolment_shows_ten_recovery_codes_once(make_doctor):
    doctor = make_doctor(email="doc@example.test")
    client = password_login("doc@example.test")
    _device, codes = _enrol(client, doctor)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", code) for code in codes)
    assert client.get(reverse("portal:dashboard")).status_code == 200
    assert SecurityEvent.objects.filter(user=doctor, kind=SecurityEventKind.SECOND_FACTOR_ENROLLED).exists()


def test_a_recovery_code_logs_in_once_and_is_refused_the_second_time(make_doctor):
    doctor = make_doctor(email="doc@example.test")
    _device, codes = _enrol(password_login("doc@example.test"), doctor)
    first = password_login("doc@example.test")
    # Typed in capitals and without dashes, as people do.
    assert first.post(reverse("accounts:totp_verify"), {"code": codes[3].replace("-", "").upper()}).status_code == 302
    assert first.get(reverse("portal:dashboard")).status_code == 200
    again = password_login("doc@example.test")
    refused = again.post(reverse("accounts:totp_verify"), {"code": codes[3]})
    assert refused.status_code == 400
    assert again.get(reverse("portal:dashboard")).status_code == 302
    assert second_factor.recovery_codes_left(doctor) == 9
    assert SecurityEvent.objects.filter(user=doctor, kind=SecurityEventKind.RECOVERY_CODE_USED).count() == 1


def test_replacing_the_authenticator_needs_the_password_and_a_current_code(make_doctor):
    doctor = make_doctor(email="doc@example.test")
    client = password_login("doc@example.test")
    old, _codes = _enrol(client, doctor)
    elsewhere = log_in(Client(), doctor)  # a session verified with the old phone
    assert elsewhere.get(reverse("portal:dashboard")).status_code == 200
    page = client.get(reverse("accounts:totp_replace"))
    assert page.status_code == 200
    new = TOTPDevice.objects.get(user=doctor, confirmed=False)
    wrong_password = client.post(
        reverse("accounts:totp_replace"),
        {"password": "not-it", "current_code": code_of(old, 1), "new_code": code_of(new)},
    )
    assert wrong_password.status_code == 400
    no_current = client.post(
        reverse("accounts:totp_replace"),
        {"password": PASSWORD, "current_code": wrong_code_of(old), "new_code": code_of(new)},
    )
    assert no_current.status_code == 400
    assert TOTPDevice.objects.get(user=doctor, confirmed=True) == old
    ok = client.post(
        reverse("accounts:totp_replace"),
        {"password": PASSWORD, "current_code": code_of(old, 1), "new_code": code_of(new)},
    )
    assert ok.status_code == 302
    assert list(TOTPDevice.objects.filter(user=doctor, confirmed=True)) == [new]
    assert client.get(reverse("portal:dashboard")).status_code == 200
    assert elsewhere.get(reverse("portal:dashboard")).status_code == 302
    assert SecurityEvent.objects.filter(user=doctor, kind=SecurityEventKind.SECOND_FACTOR_REPLACED).count() == 1


def test_new_recovery_codes_need_reauthentication_and_void_the_old(make_doctor):
    doctor = make_doctor(email="doc@example.test")
    client = password_login("doc@example.test")
    device, old_codes = _enrol(client, doctor)
    refused = client.post(
        reverse("accounts:recovery_codes_regenerate"), {"password": PASSWORD, "code": wrong_code_of(device)}
    )
    assert refused.status_code == 400
    done = client.post(
        reverse("accounts:recovery_codes_regenerate"), {"password": PASSWORD, "code": code_of(device, 1)}
    )
    assert done.status_code == 302
    new_codes = client.get(done["Location"]).context["codes"]
    assert not set(new_codes) & set(old_codes)
    stored = set(StaticToken.objects.filter(device__user=doctor).values_list("token", flat=True))
    assert stored == {c.replace("-", "") for c in new_codes}


def test_every_credential_change_is_emailed_and_recorded(make_doctor, run_tasks, smtp_settings):
    doctor = make_doctor(email="doc@example.test")
    run_tasks()
    smtp_settings.messages.clear()  # the registration's own e-mail
    client = password_login("doc@example.test")
    _enrol(client, doctor)
    new_password = "another-Long-passw0rd"
    changed = client.post(
        reverse("accounts:password_change"),
        {"current_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert changed.status_code == 302
    run_tasks()
    run_tasks()  # a second run sends nothing more
    subjects = [m["Subject"] for m in smtp_settings.messages if "doc@example.test" in m["To"]]
    assert len(subjects) == 2, subjects  # enrolment, password
    body = smtp_settings.messages[-1].get_body(preferencelist=("plain",)).get_content()
    assert "/account/security/" in body
    kinds = set(SecurityEvent.objects.filter(user=doctor).values_list("kind", flat=True))
    assert {SecurityEventKind.SECOND_FACTOR_ENROLLED, SecurityEventKind.PASSWORD_CHANGED} <= kinds
    page = client.get(reverse("accounts:security"))
    assert page.status_code == 200 and len(page.context["events"]) == 2


def test_password_change_needs_the_current_one_and_logs_out_other_sessions(make_patient):
    patient = make_patient(email="anna@example.test")
    here, elsewhere = password_login("anna@example.test"), password_login("anna@example.test")
    assert elsewhere.get(reverse("portal:dashboard")).status_code == 200
    here.get(reverse("portal:dashboard"))
    new_password = "another-Long-passw0rd"
    wrong = here.post(
        reverse("accounts:password_change"),
        {"current_password": "nope", "new_password1": new_password, "new_password2": new_password},
    )
    assert wrong.status_code == 400
    patient.refresh_from_db()
    assert patient.check_password(PASSWORD)
    weak = here.post(
        reverse("accounts:password_change"),
        {"current_password": PASSWORD, "new_password1": "12345678901", "new_password2": "12345678901"},
    )
    assert weak.status_code == 400
    ok = here.post(
        reverse("accounts:password_change"),
        {"current_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert ok.status_code == 302
    assert here.get(reverse("portal:dashboard")).status_code == 200
    assert elsewhere.get(reverse("portal:dashboard")).status_code == 302


def test_log_out_everywhere_else_ends_every_other_session(make_patient):
    patient = make_patient(email="anna@example.test")
    others = [password_login("anna@example.test") for _ in range(3)]
    for other in others:
        other.get(reverse("portal:dashboard"))
    here = password_login("anna@example.test")
    page = here.get(reverse("accounts:security"))
    assert len(page.context["sessions"]) == 4
    assert here.post(reverse("accounts:sessions_end_others"), {"current_password": "not-it"}).status_code == 400
    assert all(other.get(reverse("portal:dashboard")).status_code == 200 for other in others)
    # One device alone first: the others stay.
    one = AccountSession.objects.get(session_key=others[0].cookies["sessionid"].value)
    assert (
        here.post(
            reverse("accounts:sessions_end_others"), {"current_password": PASSWORD, "session": one.pk}
        ).status_code
        == 302
    )
    assert [other.get(reverse("portal:dashboard")).status_code for other in others] == [302, 200, 200]
    # Someone else's session is never touched this way.
    stranger = password_login(make_patient(email="bruno@example.test").email)
    stranger.get(reverse("portal:dashboard"))
    theirs = AccountSession.objects.get(session_key=stranger.cookies["sessionid"].value)
    here.post(reverse("accounts:sessions_end_others"), {"current_password": PASSWORD, "session": theirs.pk})
    assert stranger.get(reverse("portal:dashboard")).status_code == 200
    assert here.post(reverse("accounts:sessions_end_others"), {"current_password": PASSWORD}).status_code == 302
    assert all(other.get(reverse("portal:dashboard")).status_code == 302 for other in others)
    assert here.get(reverse("portal:dashboard")).status_code == 200
    assert AccountSession.objects.filter(user=patient).count() == 1


def test_email_change_is_confirmed_by_the_new_address_and_told_to_the_old(make_patient, run_tasks, smtp_settings):
    patient = make_patient(email="anna@example.test")
    run_tasks()
    smtp_settings.messages.clear()  # the registration's own e-mail
    client = password_login("anna@example.test")
    wrong = client.post(
        reverse("accounts:email_change"), {"email": "anna.new@example.test", "current_password": "nope"}
    )
    assert wrong.status_code == 400
    asked = client.post(
        reverse("accounts:email_change"), {"email": "Anna.New@example.test", "current_password": PASSWORD}
    )
    assert asked.status_code == 302
    run_tasks()
    smtp_settings.wait_for("anna@example.test")  # the old address is told at once
    body = smtp_settings.wait_for("anna.new@example.test").get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+(/account/security/email/confirm/\S+/)", body).group(1)
    patient.refresh_from_db()
    assert patient.email == "anna@example.test"  # not before the new address confirms
    assert Client().get(link).status_code == 200
    patient.refresh_from_db()
    assert patient.email == "anna.new@example.test"
    assert Client().get(link).status_code == 400  # the link works once
    run_tasks()
    told = [m for m in smtp_settings.messages if "anna@example.test" in m["To"]]
    assert len(told) == 2  # the request and the change, both to the old address


@pytest.mark.parametrize("token", ["", "x", "a" * 500, "é:ü", "..%2F..%2Fetc"])
def test_bad_email_change_links_are_refused_cleanly(client, token):
    response = client.get(reverse("accounts:email_change_confirm", args=[token or "-"]))
    assert response.status_code == 400


def test_staff_reset_of_a_lost_second_factor_is_recorded_and_told(make_doctor, run_tasks, smtp_settings):
    doctor = make_doctor(email="doc@example.test")
    _enrol(password_login("doc@example.test"), doctor)
    staff = User.objects.create_superuser("ops@example.test", PASSWORD, first_name="Ops", last_name="telemed")
    admin = log_in(Client(), staff)
    response = admin.post(
        reverse("admin:accounts_user_changelist"), {"action": "reset_second_factor", "_selected_action": [doctor.pk]}
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=doctor).exists()
    assert second_factor.recovery_codes_left(doctor) == 0
    event = SecurityEvent.objects.get(user=doctor, kind=SecurityEventKind.SECOND_FACTOR_RESET_BY_STAFF)
    assert event.actor == staff
    run_tasks()
    smtp_settings.wait_for("doc@example.test", subject="")
    # The doctor enrols again at the next login.
    client = password_login("doc@example.test")
    assert client.get(reverse("accounts:totp_verify"))["Location"] == reverse("accounts:totp_setup")


def test_staff_cannot_read_login_secrets_nor_set_a_password_or_address_in_the_back_office(make_doctor):
    doctor = make_doctor(email="doc@example.test")
    TOTPDevice.objects.create(user=doctor, name="phone", confirmed=True)
    staff = User.objects.create_superuser("ops@example.test", PASSWORD, first_name="Ops", last_name="telemed")
    admin = log_in(Client(), staff)
    assert admin.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert admin.get("/admin/otp_static/staticdevice/").status_code == 404
    assert admin.get(f"/admin/accounts/user/{doctor.pk}/password/").status_code == 403
    page = admin.get(reverse("admin:accounts_user_change", args=[doctor.pk]))
    assert page.status_code == 200 and 'name="email"' not in page.content.decode()


def test_the_demo_data_refuses_production(settings):
    from django.core.management import CommandError, call_command

    settings.PRODUCTION = True
    with pytest.raises(CommandError):
        call_command("load_demo")
    assert not User.objects.filter(email__endswith="@demo.telemed.test").exists()


def test_logging_out_clears_what_the_browser_kept_of_the_session(make_patient):
    make_patient(email="anna@example.test")
    client = password_login("anna@example.test")
    response = client.post(reverse("accounts:logout"))
    assert response["Clear-Site-Data"] == '"cache", "storage"'


def test_passwords_are_twelve_to_a_hundred_and_twenty_eight_characters(make_patient):
    make_patient(email="anna@example.test")
    client = password_login("anna@example.test")
    for new_password, ok in (("Eleven-char", False), ("twelve-chars", True), ("x" * 100 + "-Passphrase-" * 3, False)):
        response = client.post(
            reverse("accounts:password_change"),
            {"current_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
        )
        assert (response.status_code == 302) is ok, new_password
        if ok:
            # back to the known password for the next case
            from telemed.accounts.models import User

            user = User.objects.get(email="anna@example.test")
            user.set_password(PASSWORD)
            user.save()
            client = password_login("anna@example.test")


def test_uploaded_files_are_readable_by_the_platform_only(settings):
    assert settings.FILE_UPLOAD_PERMISSIONS == 0o600 and settings.FILE_UPLOAD_DIRECTORY_PERMISSIONS == 0o700
