"""Each e-mail task of accounts, run twice (its worker died after sending), sends its e-mail once."""

import pytest
from django.core import mail
from django.urls import reverse

from conftest import verified_client
from telemed.accounts import tasks

pytestmark = pytest.mark.django_db


def test_the_verification_email_is_sent_once(make_patient, run_tasks_twice):
    patient = make_patient(email="anna@example.test")
    mail.outbox.clear()
    assert "send_email_verification" in run_tasks_twice()
    assert [m.to for m in mail.outbox] == [[patient.email]]
    # A new request is a new e-mail: the key is the task run, not the user.
    tasks.send_email_verification.enqueue(user_id=patient.pk)
    run_tasks_twice()
    assert len(mail.outbox) == 2


def test_the_password_reset_email_is_sent_once(make_patient, run_tasks_twice):
    patient = make_patient(email="anna@example.test")
    run_tasks_twice()
    mail.outbox.clear()
    tasks.send_password_reset.enqueue(user_id=patient.pk)
    assert run_tasks_twice() == ["send_password_reset"]
    assert [m.to for m in mail.outbox] == [[patient.email]]
    assert mail.outbox[0].extra_headers["Message-ID"].endswith("@telemed>")


def test_the_invitation_email_is_sent_once(make_doctor, run_tasks_twice):
    doctor = make_doctor(email="doc@example.test")
    run_tasks_twice()
    mail.outbox.clear()
    verified_client(doctor).post(reverse("accounts:secretary_invite"), {"email": "segreteria@example.test"})
    assert "send_invitation" in run_tasks_twice()
    assert [m.to for m in mail.outbox] == [["segreteria@example.test"]]


def test_the_security_notice_is_sent_once_to_each_address(make_patient, run_tasks_twice):
    from django.test import Client

    from conftest import PASSWORD

    patient = make_patient(email="anna@example.test")
    run_tasks_twice()
    mail.outbox.clear()
    client = Client()
    client.post(reverse("accounts:login"), {"username": patient.email, "password": PASSWORD})
    new_password = "another-Long-passw0rd"
    client.post(
        reverse("accounts:password_change"),
        {"current_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert run_tasks_twice() == ["send_security_notice"]
    assert [m.to for m in mail.outbox] == [[patient.email]]


def test_the_email_change_link_is_sent_once(make_patient, run_tasks_twice):
    from django.test import Client

    from conftest import PASSWORD

    patient = make_patient(email="anna@example.test")
    run_tasks_twice()
    mail.outbox.clear()
    client = Client()
    client.post(reverse("accounts:login"), {"username": patient.email, "password": PASSWORD})
    client.post(reverse("accounts:email_change"), {"email": "anna.new@example.test", "current_password": PASSWORD})
    assert sorted(run_tasks_twice()) == ["send_email_change_confirmation", "send_security_notice"]
    assert sorted(m.to[0] for m in mail.outbox) == ["anna.new@example.test", "anna@example.test"]
