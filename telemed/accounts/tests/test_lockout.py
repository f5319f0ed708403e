"""The login lockout counts per account: changing the e-mail's letter case or adding spaces
does not buy an attacker more guesses. The same normalised account is what registration,
password reset and invitations see."""

from types import SimpleNamespace

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import PASSWORD, person, verified_client
from telemed.accounts import selectors, services
from telemed.accounts.lockout import axes_username
from telemed.accounts.models import SecretaryAssignment, User
from telemed.lib.text import account_email

pytestmark = pytest.mark.django_db

VARIANTS = ["anna@example.test", "ANNA@example.test", " Anna@Example.TEST ", "aNnA@eXaMpLe.test", "ANNA@EXAMPLE.TEST"]


def login(client, email, password=PASSWORD):
    return client.post(reverse("accounts:login"), {"username": email, "password": password})


def test_account_email_strips_and_casefolds():
    assert {account_email(variant) for variant in VARIANTS} == {"anna@example.test"}
    assert account_email("\tAnna@Example.test\n") == "anna@example.test"


def test_axes_counts_every_spelling_under_the_account():
    assert axes_username(None, {"username": " ANNA@Example.test"}) == "anna@example.test"
    assert axes_username(None, None) == ""


@pytest.mark.parametrize("right_spelling", VARIANTS)
def test_case_variants_of_the_email_share_one_lockout(client, make_patient, right_spelling):
    make_patient(email="anna@example.test")
    # Five failures, each under another spelling: the fifth locks the account.
    assert [login(client, variant, "wrong-password").status_code for variant in VARIANTS] == [200] * 4 + [429]
    locked = login(client, right_spelling, PASSWORD)
    assert locked.status_code == 429
    assert "15 minuti" in locked.content.decode()
    assert client.get(reverse("portal:dashboard")).status_code == 302  # not logged in
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["anna@example.test"]


def test_sixteen_guesses_over_four_spellings_are_locked_at_the_fifth(client, make_patient):
    make_patient(email="anna@example.test")
    statuses = [login(client, VARIANTS[n % 4], f"guess-{n}").status_code for n in range(16)]
    assert statuses == [200] * 4 + [429] * 12


def test_registering_an_address_that_differs_only_in_case_is_refused(make_patient):
    make_patient(email="anna@example.test")
    assert selectors.email_is_registered(" ANNA@Example.test ")
    with pytest.raises(ValidationError):
        make_patient(email="Anna@Example.test")
    assert User.objects.filter(email__iexact="anna@example.test").count() == 1


def test_a_new_account_is_stored_under_its_normalised_address(make_patient):
    assert make_patient(email=" Bruno@Example.TEST ").email == "bruno@example.test"


def test_password_reset_finds_the_account_whatever_the_spelling(make_patient, monkeypatch):
    user = make_patient(email="anna@example.test")
    sent = []
    monkeypatch.setattr(
        services.tasks, "send_password_reset", SimpleNamespace(enqueue=lambda **kwargs: sent.append(kwargs))
    )
    services.password_reset_request(email="  ANNA@Example.test ")
    assert sent == [{"user_id": user.pk}]


def test_an_invitation_is_for_the_account_whatever_the_spelling(make_doctor):
    doctor = make_doctor()
    invitation = services.secretary_invite(actor=doctor, email="  Seg@Example.TEST ")
    assert invitation.email == "seg@example.test"
    secretary = services.secretary_register_from_invitation(token=invitation.token, person=person(), phone="")
    again = services.secretary_invite(actor=make_doctor(), email="SEG@example.test")
    verified_client(secretary).post(reverse("accounts:invitation", args=[again.token]))
    assert SecretaryAssignment.objects.filter(secretary__user=secretary).count() == 2
