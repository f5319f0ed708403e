"""The SMTP hand-off commits between the message's body and its final ".", on a real SMTP server."""

import smtplib

import pytest
from django.core.mail import EmailMessage
from django.db import connection

from telemed.outbox.models import SentMessage
from telemed.outbox.services import email_send_once

pytestmark = pytest.mark.django_db(transaction=True)


def message(subject="Promemoria"):
    return EmailMessage(subject=subject, body="Apri telemed.\n.\nUna riga con un punto solo.", to=["anna@example.test"])


def test_sent_once_however_many_times_it_is_asked(smtp_settings):
    assert email_send_once(key="k:1", message=message()) is True
    assert email_send_once(key="k:1", message=message()) is False
    assert len(smtp_settings.messages) == 1
    assert SentMessage.objects.filter(key="k:1").count() == 1
    # A line holding a single "." travels dot-stuffed and arrives as it was written.
    assert "\n.\nUna riga" in smtp_settings.messages[0].get_content().replace("\r\n", "\n")


def test_a_process_dying_in_its_commit_leaves_no_message_and_no_record(smtp_settings):
    def dies():
        raise SystemExit("killed while recording")

    with pytest.raises(SystemExit):
        email_send_once(key="k:2", message=message(), before_send=dies)
    assert smtp_settings.messages == [] and not SentMessage.objects.filter(key="k:2").exists()

    # The next run sends it, once.
    assert email_send_once(key="k:2", message=message()) is True
    assert len(smtp_settings.messages) == 1


def test_a_process_dying_between_the_final_dot_and_the_commit_repeats_the_same_message(smtp_settings, monkeypatch):
    real_send = smtplib.SMTP.send

    def send_then_die(self, data):
        real_send(self, data)
        if data == b".\r\n":
            raise SystemExit("killed right after the final dot")

    monkeypatch.setattr(smtplib.SMTP, "send", send_then_die)
    with pytest.raises(SystemExit):
        email_send_once(key="k:8", message=message())
    assert not SentMessage.objects.filter(key="k:8").exists()  # rolled back: the next run sends it
    smtp_settings.wait_for("anna@example.test")

    monkeypatch.setattr(smtplib.SMTP, "send", real_send)
    assert email_send_once(key="k:8", message=message()) is True
    assert email_send_once(key="k:8", message=message()) is False
    first, again = smtp_settings.messages
    assert first["Message-ID"] == again["Message-ID"]  # a repeat, which mail stores fold into one


def test_what_the_caller_records_commits_with_the_key(smtp_settings, make_patient):
    patient = make_patient(email="anna@example.test")
    email_send_once(
        key="k:3",
        message=message(),
        before_send=lambda: type(patient).objects.filter(pk=patient.pk).update(first_name="Inviata"),
    )
    patient.refresh_from_db()
    assert patient.first_name == "Inviata" and len(smtp_settings.messages) == 1


def test_a_message_the_server_refuses_is_not_recorded_and_goes_again(smtp_settings):
    smtp_settings.refusal = "554 5.7.1 Message refused"
    with pytest.raises(smtplib.SMTPDataError):
        email_send_once(key="k:4", message=message())
    assert not SentMessage.objects.filter(key="k:4").exists()

    smtp_settings.refusal = ""
    assert email_send_once(key="k:4", message=message()) is True
    assert len(smtp_settings.messages) == 1


def test_another_run_that_recorded_it_first_wins_and_nothing_is_sent(smtp_settings, monkeypatch):
    from telemed.outbox import services

    real_claim = services.message_claim

    def claim_after_another_run(*, key):
        SentMessage.objects.create(key=key)  # the other run committed between our check and our claim
        return real_claim(key=key)

    monkeypatch.setattr(services, "message_claim", claim_after_another_run)
    assert email_send_once(key="k:5", message=message()) is False
    assert smtp_settings.messages == []


def test_an_e_mail_whose_news_is_withdrawn_at_the_commit_is_not_sent(smtp_settings):
    # A payment request paid while its e-mail was on the way: the commit finds it closed.
    assert email_send_once(key="k:6", message=message(), before_send=lambda: False) is False
    assert smtp_settings.messages == [] and not SentMessage.objects.filter(key="k:6").exists()


def test_without_a_network_hop_the_same_rules_hold(settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert email_send_once(key="k:7", message=message(), before_send=lambda: False) is False
    assert email_send_once(key="k:7", message=message()) is True
    assert email_send_once(key="k:7", message=message()) is False
    assert len(mailoutbox) == 1


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the pipelined commit is PostgreSQL's")
def test_on_postgresql_the_commit_leaves_right_behind_the_final_dot(smtp_settings, monkeypatch):
    # The "." leaves while the transaction is still open (a kill right then is a repeat, never an
    # e-mail recorded as sent that never left), and the COMMIT does not wait for the server's
    # answer to it (which would make that window a round trip).
    from psycopg import pq

    seen = {}
    real_send, real_getreply = smtplib.SMTP.send, smtplib.SMTP.getreply

    def send(self, data):
        if data == b".\r\n":
            seen["at the dot"] = connection.connection.pgconn.transaction_status
        return real_send(self, data)

    def getreply(self):
        if "at the dot" in seen:
            seen.setdefault("at its answer", connection.connection.pgconn.transaction_status)
        return real_getreply(self)

    monkeypatch.setattr(smtplib.SMTP, "send", send)
    monkeypatch.setattr(smtplib.SMTP, "getreply", getreply)
    assert email_send_once(key="k:7", message=message()) is True
    assert seen == {"at the dot": pq.TransactionStatus.INTRANS, "at its answer": pq.TransactionStatus.IDLE}
    assert SentMessage.objects.filter(key="k:7").exists() and len(smtp_settings.messages) == 1
