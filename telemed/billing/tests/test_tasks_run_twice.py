"""Billing's e-mail tasks, run twice: the request and each reminder are sent and counted once."""

import pytest
from django.core import mail
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from telemed.billing.models import PaymentRequest

pytestmark = pytest.mark.django_db


def test_the_payment_request_and_a_reminder_are_sent_once(doctor, patient, billed, run_tasks_twice):
    run_tasks_twice()
    mail.outbox.clear()
    request = billed(doctor, patient)
    assert "send_payment_request" in run_tasks_twice()
    assert [m.to for m in mail.outbox] == [[patient.email]]
    first = DBTaskResult.objects.filter(task_path__endswith="send_payment_reminder").order_by("run_after").first()
    DBTaskResult.objects.filter(pk=first.pk).update(run_after=timezone.now())
    assert "send_payment_reminder" in run_tasks_twice()
    assert [m.to for m in mail.outbox] == [[patient.email], [patient.email]]
    assert PaymentRequest.objects.get(pk=request.pk).reminders_sent == 1


def test_the_invoice_is_delivered_and_emailed_once(doctor, patient, billed, staff, run_tasks_twice):
    from telemed.billing import payments
    from telemed.billing.models import Invoice
    from telemed.boxes.models import Document

    request = billed(doctor, patient)
    run_tasks_twice()
    mail.outbox.clear()
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    assert "deliver_invoice" in run_tasks_twice()
    invoice = Invoice.objects.get(payment_request=request)
    assert invoice.delivered_at is not None
    assert [m.to for m in mail.outbox if any(a[2] == "application/pdf" for a in m.attachments)] == [[patient.email]]
    assert Document.objects.filter(box__owner=patient, mime="application/pdf").count() == 1
    assert Document.objects.filter(box__owner=doctor.user, mime="application/pdf").count() == 1
