"""The care invitation task, run twice, sends its e-mail once."""

import pytest
from django.core import mail
from django.urls import reverse

from conftest import verified_client

pytestmark = pytest.mark.django_db


def test_the_care_invitation_is_sent_once(make_doctor, run_tasks_twice):
    doctor = make_doctor()
    run_tasks_twice()
    mail.outbox.clear()
    verified_client(doctor).post(reverse("care:invite"), {"email": "nuovo@example.test", "message": "Benvenuto"})
    assert "send_care_invitation" in run_tasks_twice()
    assert [m.to for m in mail.outbox] == [["nuovo@example.test"]]
