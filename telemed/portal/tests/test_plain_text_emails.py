"""Plain-text e-mails are text, not HTML: a name like D'Amico reaches the reader as typed (ASVS 5.3.1)."""

import pathlib

import pytest
from django.core import mail
from django.urls import reverse

from conftest import verified_client

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_every_plain_text_template_turns_html_escaping_off():
    missing = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "telemed").glob("*/templates/**/*.txt"))
        if "{% autoescape off %}" not in path.read_text()
    ]
    assert missing == []


@pytest.mark.django_db
def test_an_apostrophe_in_a_name_reaches_the_email_as_typed(make_doctor, run_tasks):
    doctor = make_doctor(email="doc@example.test", first_name="Gianluca", last_name="D'Amico")
    run_tasks()
    mail.outbox.clear()
    verified_client(doctor).post(reverse("accounts:secretary_invite"), {"email": "segreteria@example.test"})
    run_tasks()
    (message,) = mail.outbox
    assert "D'Amico" in message.body and "&#x27;" not in message.body + message.subject
