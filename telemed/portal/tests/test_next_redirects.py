"""No ``next`` value gives a server error, and none sends the browser off the site: every view
that follows a user-given ``next`` is posted odd strings (hypothesis) and must answer below 500
with, when it redirects, a Location that is a path of this site."""

import datetime
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import PASSWORD, verified_client
from telemed.reminders import services as reminders
from telemed.reminders.recurrence import Recurrence

pytestmark = pytest.mark.django_db

ODD = [
    "-1", "abc", "", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)",
    "https://evil.example/", "%2F%2Fevil.example", " ", "\t/", "\u00e8/\u2028", "/" + "x" * 5000, "\U0001f4a5",
]  # fmt: skip
NEXT_VALUES = st.one_of(st.sampled_from(ODD), st.text(max_size=300), st.text(max_size=50).map(lambda tail: "/" + tail))
SOME = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_same_site(response) -> None:
    assert response.status_code < 500
    if 300 <= response.status_code < 400:
        location = response["Location"]
        parts = urlsplit(location)
        assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location
        assert not parts.scheme and not parts.netloc, location


def clean(value: str) -> str:
    # The test client cannot post a NUL byte in a form field; the server never sees one either.
    return value.replace("\x00", "")


@pytest.fixture
def reminder(make_patient):
    patient = make_patient(email="anna@example.test")
    start = timezone.localdate()
    created = reminders.reminder_create(
        actor=patient, patient=patient, text=reminders.ReminderText(kind="therapy", title="Cardioaspirina"),
        recurrence=Recurrence(start=start, times=(datetime.time(8, 0),), frequency="daily"),
    )  # fmt: skip
    return created


@pytest.mark.parametrize("action", ["take", "stop", "mute"])
def test_a_reminder_action_with_any_next_never_fails_nor_leaves_the_site(reminder, action):
    client = verified_client(reminder.patient)
    url = reverse(f"reminders:{action}", args=[reminder.pk])

    @SOME
    @given(value=NEXT_VALUES, occurrence=st.sampled_from(["", "abc", str(int(reminder.starts_at.timestamp()))]))
    def check(value, occurrence):
        assert_same_site(client.post(url, {"next": clean(value), "occurrence": occurrence, "muted": "1"}))

    check()


def test_reminder_take_with_next_minus_one_goes_back_to_the_agenda(reminder):
    client = verified_client(reminder.patient)
    for value in ("-1", "abc"):
        response = client.post(reverse("reminders:take", args=[reminder.pk]), {"next": value, "occurrence": "x"})
        assert response.status_code == 302 and response["Location"] == reverse("reminders:agenda")


def test_the_two_factor_page_with_any_next_never_fails_nor_leaves_the_site(make_doctor):
    doctor = make_doctor(email="doc@example.test")
    device = TOTPDevice.objects.create(user=doctor, name="phone", confirmed=True)

    @SOME
    @given(value=NEXT_VALUES)
    def check(value):
        client = Client()
        client.force_login(doctor)
        assert_same_site(client.get(reverse("accounts:totp_verify"), {"next": clean(value)}))
        TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
        code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
        response = client.post(reverse("accounts:totp_verify"), {"code": code, "next": clean(value)})
        assert_same_site(response)
        assert response.status_code == 302

    check()


def test_the_two_factor_page_with_next_abc_goes_to_the_dashboard(make_doctor):
    doctor = make_doctor(email="doc@example.test")
    device = TOTPDevice.objects.create(user=doctor, name="phone", confirmed=True)
    client = Client()
    client.force_login(doctor)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    response = client.post(reverse("accounts:totp_verify") + "?next=abc", {"code": code})
    assert response.status_code == 302 and response["Location"] == reverse("portal:dashboard")


def test_login_with_any_next_never_fails_nor_leaves_the_site(make_patient):
    make_patient(email="anna@example.test")

    @settings(SOME, max_examples=15)
    @given(value=NEXT_VALUES)
    def check(value):
        client = Client()
        assert_same_site(client.get(reverse("accounts:login"), {"next": clean(value)}))
        response = client.post(
            reverse("accounts:login"), {"username": "anna@example.test", "password": PASSWORD, "next": clean(value)}
        )
        assert response.status_code == 302
        assert_same_site(response)
        assert_same_site(client.get(reverse("accounts:login"), {"next": clean(value)}))  # already logged in
        assert_same_site(client.post(reverse("accounts:logout"), {"next": clean(value)}))

    check()


def test_login_with_next_abc_goes_to_the_dashboard(make_patient):
    make_patient(email="anna@example.test")
    response = Client().post(
        reverse("accounts:login") + "?next=abc", {"username": "anna@example.test", "password": PASSWORD}
    )
    assert response["Location"] == reverse("portal:dashboard")


def test_the_language_switch_with_any_next_never_fails_nor_leaves_the_site(make_patient):
    visitor, patient = Client(), verified_client(make_patient(email="anna@example.test"))

    @SOME
    @given(value=NEXT_VALUES, referer=st.sampled_from(["", "https://evil.example/", "abc"]))
    def check(value, referer):
        for client in (visitor, patient):
            response = client.post(
                reverse("set_language"), {"language": "it", "next": clean(value)}, HTTP_REFERER=referer
            )
            assert_same_site(response)

    check()
