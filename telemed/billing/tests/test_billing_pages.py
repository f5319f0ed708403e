"""The billing pages: each role sees its own, nobody else's; bad input gets a message, never a 500."""

import io
from decimal import Decimal as D

import pytest
from django.urls import reverse

from conftest import log_in
from telemed.billing import payments, payouts
from telemed.billing.models import Invoice, PaymentStatus, ProformaStatus, StoragePlan
from telemed.billing.tests.conftest import camt053
from telemed.boxes.models import Box

pytestmark = pytest.mark.django_db


def test_emetti_fattura_review_and_validate_through_the_pages(doctor_client, doctor, patient, deliver):
    deliver(doctor, patient)
    deliver(doctor, patient, fee="80.00")
    page = doctor_client.get(reverse("billing:home"))
    assert page.status_code == 200 and b'data-testid="emetti-fattura"' in page.content
    response = doctor_client.post(reverse("billing:issue"))
    assert response.status_code == 302 and response["Location"] == reverse("billing:review")
    review = doctor_client.get(reverse("billing:review"))
    drafts = list(doctor.proformas.filter(status=ProformaStatus.DRAFT).order_by("pk"))
    assert len(drafts) == 2 and b"Stamp duty" in review.content or "bollo" in review.content.decode()
    response = doctor_client.post(
        reverse("billing:review"), {"draft": [d.pk for d in drafts], "include": [drafts[0].pk]}
    )
    assert response.status_code == 302
    drafts[0].refresh_from_db(), drafts[1].refresh_from_db()
    assert (drafts[0].status, drafts[1].status) == (ProformaStatus.AWAITING_PAYMENT, ProformaStatus.EXCLUDED)
    # Posting the same form again (back button, double click) changes nothing.
    doctor_client.post(reverse("billing:review"), {"draft": [d.pk for d in drafts], "include": [drafts[0].pk]})
    assert doctor.payment_requests.count() == 1


@pytest.mark.parametrize(
    "data",
    [{"draft": ["x"], "include": ["x"]}, {"draft": ["1"], "include": ["2"]}, {"draft": ["99999999999999999999"]}, {}],
)
def test_review_with_nonsense_gives_a_message(doctor_client, data):
    response = doctor_client.post(reverse("billing:review"), data)
    assert response.status_code == 302


def test_issue_with_nonsense_or_foreign_services(doctor_client, doctor, make_doctor, patient, deliver):
    other = make_doctor("Carla", "Neri")
    foreign = deliver(other, patient)
    for value in ["abc", str(foreign.pk), "-1"]:
        assert doctor_client.post(reverse("billing:issue"), {"service": value}).status_code == 302
    assert not doctor.proformas.exists() and not other.proformas.exists()


def test_the_patient_pays_with_the_qr_code_and_downloads_the_invoice(client, doctor, patient, billed, staff, run_tasks):
    request = billed(doctor, patient)
    client.force_login(patient)
    page = client.get(reverse("billing:payment", args=[request.pk]))
    content = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="epc-qr"' in content and "data:image/png;base64," in content
    assert "IT04 T030 6909 6060 0000 0100 000" in content and request.reference[:4] in content
    response = client.post(
        reverse("billing:payment", args=[request.pk]), {"payer_address": "Via Po 3", "sts_opposition": "on"}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.sts_opposition and request.payer_address == "Via Po 3"
    assert client.get(reverse("billing:payments")).status_code == 200

    log_in(client, staff)
    upload = io.BytesIO(camt053([{"amount": "48.00", "reference": request.reference}]))
    upload.name = "estratto.xml"
    assert client.post(reverse("billing:staff_reconciliation"), {"statement": upload}).status_code == 302
    invoice = Invoice.objects.get(payment_request=request)
    client.force_login(patient)
    response = client.get(reverse("billing:invoice_pdf", args=[invoice.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF")


def test_nobody_sees_anyone_elses_payments_or_invoices(
    client, doctor, patient, make_patient_user, billed, staff, make_doctor, login_doctor
):
    request = billed(doctor, patient)
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    invoice = Invoice.objects.get()
    stranger = make_patient_user("Zoe")
    client.force_login(stranger)
    assert client.get(reverse("billing:payment", args=[request.pk])).status_code == 404
    assert client.get(reverse("billing:invoice_pdf", args=[invoice.pk])).status_code == 404
    assert client.get(reverse("billing:staff_reconciliation")).status_code == 403
    assert client.get(reverse("billing:home")).status_code == 403
    other = make_doctor("Carla", "Neri")
    login_doctor(client, other)
    assert client.get(reverse("billing:invoice_pdf", args=[invoice.pk])).status_code == 404
    assert client.get(reverse("billing:credit_note", args=[invoice.pk])).status_code == 404
    assert client.post(reverse("billing:payment_cancel", args=[request.pk])).status_code == 404


def test_staff_pages_and_bad_uploads(client, staff, doctor, patient, billed):
    request = billed(doctor, patient)
    log_in(client, staff)
    assert client.get(reverse("billing:staff_reconciliation")).status_code == 200
    bad = io.BytesIO(b"<html>nope</html>")
    bad.name = "x.xml"
    response = client.post(reverse("billing:staff_reconciliation"), {"statement": bad})
    assert response.status_code == 400 and "camt.053" in response.content.decode()
    assert client.post(reverse("billing:staff_reconciliation"), {}).status_code == 400
    assert client.post(reverse("billing:staff_mark_paid", args=[request.pk]), {"reason": ""}).status_code == 302
    request.refresh_from_db()
    assert request.status == PaymentStatus.OPEN
    assert (
        client.post(reverse("billing:staff_mark_paid", args=[request.pk]), {"reason": "paid at the desk"}).status_code
        == 302
    )
    request.refresh_from_db()
    assert request.status == PaymentStatus.PAID
    # Payout batch from the page, then its file.
    assert client.get(reverse("billing:staff_payouts")).status_code == 200
    response = client.post(reverse("billing:staff_payouts"), {"cutoff": "2000-01-01", "execution_date": "2000-01-01"})
    assert response.status_code == 400
    from django.utils import timezone

    today = timezone.localdate().isoformat()
    response = client.post(reverse("billing:staff_payouts"), {"cutoff": today, "execution_date": today})
    assert response.status_code == 302
    batch = doctor.payout_lines.get().batch
    response = client.get(reverse("billing:staff_payout_file", args=[batch.pk]))
    assert b"pain.001.001.09" in response.content
    assert client.get(reverse("billing:payout_statement", args=[doctor.payout_lines.get().pk])).status_code == 200
    assert (
        client.post(reverse("billing:staff_transfer", args=[999999]), {"action": "apply", "note": "x" * 10}).status_code
        == 404
    )


def test_the_doctor_sees_their_payout_statement_and_not_others(
    client, doctor, make_doctor, patient, billed, staff, login_doctor
):
    payments.payment_mark_paid(actor=staff, payment_request=billed(doctor, patient), reason="paid at the front desk")
    from django.utils import timezone

    payouts.payout_batch_run(actor=staff, cutoff=timezone.now())
    line = doctor.payout_lines.get()
    login_doctor(client, doctor)
    page = client.get(reverse("billing:payout_statement", args=[line.pk]))
    assert page.status_code == 200 and "44,50" in page.content.decode()
    login_doctor(client, make_doctor("Carla", "Neri"))
    assert client.get(reverse("billing:payout_statement", args=[line.pk])).status_code == 404


def test_buying_space_raises_the_quota_when_paid(client, patient, staff):
    plan = StoragePlan.objects.create(name="Plus", for_box="welbox", extra_gigabytes=5, price=D("9.90"))
    StoragePlan.objects.create(name="Doctors only", for_box="medbox", extra_gigabytes=50, price=D("49.00"))
    client.force_login(patient)
    page = client.get(reverse("billing:storage"))
    assert b"Plus" in page.content and b"Doctors only" not in page.content
    assert client.post(reverse("billing:storage"), {"plan": "abc"}).status_code == 302
    response = client.post(reverse("billing:storage"), {"plan": plan.pk})
    request = patient.payment_requests.get()
    assert response["Location"] == reverse("billing:payment", args=[request.pk]) and request.amount == D("9.90")
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    box = Box.objects.get(owner=patient)
    assert box.extra_quota_bytes == 5 * 1024**3
    assert box.quota_raises.get().reason.startswith("storage purchase")


def test_credit_note_page(client, doctor, patient, billed, staff, login_doctor):
    payments.payment_mark_paid(actor=staff, payment_request=billed(doctor, patient), reason="paid at the front desk")
    invoice = Invoice.objects.get()
    login_doctor(client, doctor)
    assert client.post(reverse("billing:credit_note", args=[invoice.pk]), {"reason": ""}).status_code == 400
    assert (
        client.post(reverse("billing:credit_note", args=[invoice.pk]), {"reason": "wrong amount agreed"}).status_code
        == 302
    )
    assert Invoice.objects.filter(credits=invoice).exists()
    assert (
        client.post(reverse("billing:credit_note", args=[invoice.pk]), {"reason": "wrong amount agreed"}).status_code
        == 400
    )


def test_staff_set_storage_plans_and_charity_ibans_in_the_back_office(client, staff):
    from telemed.billing.models import Charity

    log_in(client, staff)
    response = client.post(
        reverse("admin:billing_storageplan_add"),
        {"name": "Extra", "for_box": "any", "extra_gigabytes": 10, "price": "19.90", "active": "on"},
    )
    assert response.status_code == 302 and StoragePlan.objects.get(name="Extra").price == D("19.90")
    response = client.post(
        reverse("admin:billing_charity_add"), {"name": "Onlus", "iban": "IT60X0542811101000000123457", "active": "on"}
    )
    assert response.status_code == 200 and not Charity.objects.filter(name="Onlus").exists()
    response = client.post(
        reverse("admin:billing_charity_add"),
        {"name": "Onlus", "iban": "IT60 X054 2811 1010 0000 0123 456", "active": "on"},
    )
    assert response.status_code == 302 and Charity.objects.get(name="Onlus").iban == "IT60X0542811101000000123456"
    # Offered to doctors without an account to pay it: refused; not offered, it may wait for one.
    response = client.post(reverse("admin:billing_charity_add"), {"name": "Senza conto", "iban": "", "active": "on"})
    assert response.status_code == 200 and not Charity.objects.filter(name="Senza conto").exists()
    response = client.post(reverse("admin:billing_charity_add"), {"name": "Senza conto", "iban": ""})
    assert response.status_code == 302 and not Charity.objects.get(name="Senza conto").active
    assert client.get(reverse("admin:billing_ledgerentry_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_invoice_changelist")).status_code == 200
