"""Payout batches: one pain.001.001.09 file, valid against its XSD; a statement per doctor; a payee
without a valid IBAN stops the batch unless left out; donations reach the charities."""

import datetime
from decimal import Decimal as D

import pytest
from django.utils import timezone
from lxml import etree

from telemed.billing import acting, donations, invoices, ledger, payments, payouts, selectors, sepa
from telemed.billing.models import PayoutBatch, PayoutLine

pytestmark = pytest.mark.django_db
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


def paid(doctor, patient, billed, staff, fee="45.00"):
    request = billed(doctor, patient, fee=fee)
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    return request


def later():
    return timezone.now() + datetime.timedelta(seconds=5)


def test_a_batch_pays_doctors_and_charities_in_one_valid_file(doctor, make_doctor, patient, billed, staff, charity):
    charity.iban = "IT60X0542811101000000123456"
    charity.save()
    donations.donation_set(actor=doctor.user, percent=D("10"), charity=charity)
    other = make_doctor("Carla", "Neri")
    paid(doctor, patient, billed, staff, fee="80.00")
    paid(doctor, patient, billed, staff)
    paid(other, patient, billed, staff)
    batch = payouts.payout_batch_run(actor=staff, cutoff=later())
    sepa.validate(batch.xml.encode())  # the pain.001.001.09 XSD
    document = etree.fromstring(batch.xml.encode())
    assert document.tag == "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.09}Document"
    amounts = {node.findtext("p:Cdtr/p:Nm", namespaces=NS): D(node.findtext("p:Amt/p:InstdAmt", namespaces=NS))
               for node in document.iterfind(".//p:CdtTrfTxInf", NS)}  # fmt: skip
    # medico: (79.50 - 7.95) + 2.00 bollo + (44.50 - 4.45); charity: 7.95 + 4.45; other: 44.50
    assert amounts == {
        doctor.user.get_full_name(): D("73.55") + D("40.05"),
        other.user.get_full_name(): D("44.50"),
        charity.name: D("12.40"),
    }
    assert D(document.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS)) == batch.total == sum(amounts.values())
    line = PayoutLine.objects.get(batch=batch, doctor=doctor)
    statement = selectors.payout_statement(line)
    assert sum(entry.amount for entry in statement) == line.amount and len(statement) == 2
    # Each line shows the fee, the bank fee, the donation, the stamp duty and the net, all from pricing.
    rows = selectors.payout_statement_rows(line)
    assert [
        (row.amounts.fee, row.amounts.bank_fee, row.amounts.donation, row.amounts.stamp_duty, row.amounts.net)
        for row in rows
    ] == [
        (D("80.00"), D("0.50"), D("7.95"), D("2.00"), D("73.55")),
        (D("45.00"), D("0.50"), D("4.45"), D("0.00"), D("40.05")),
    ]
    assert [row.amounts.net for row in rows] == [row.entry.amount for row in rows]
    charity_rows = selectors.payout_statement_rows(PayoutLine.objects.get(batch=batch, charity=charity))
    assert [(row.amounts.donation, row.amounts.net) for row in charity_rows] == [
        (D("7.95"), D("7.95")),
        (D("4.45"), D("4.45")),
    ]
    assert selectors.held_for_doctor(doctor) == 0
    totals = ledger.totals()
    assert totals.doctor_payouts == D("158.10") and totals.charity_payouts == D("12.40") and totals.balances
    # Nothing is paid twice: the next batch has nothing to pay.
    with pytest.raises(acting.BillingError):
        payouts.payout_batch_run(actor=staff, cutoff=later())


def test_a_doctor_without_a_valid_iban_stops_the_batch_or_is_left_out(doctor, make_doctor, patient, billed, staff):
    other = make_doctor("Carla", "Neri")
    paid(doctor, patient, billed, staff)
    paid(other, patient, billed, staff)
    other.iban = "IT60X0542811101000000123457"  # checksum fails
    other.save()
    with pytest.raises(acting.BillingError, match="Carla Neri"):
        payouts.payout_batch_run(actor=staff, cutoff=later())
    assert not PayoutBatch.objects.exists() and ledger.totals().doctor_payouts == 0
    other.iban = ""
    other.save()
    with pytest.raises(acting.BillingError):
        payouts.payout_batch_run(actor=staff, cutoff=later())
    batch = payouts.payout_batch_run(actor=staff, cutoff=later(), leave_out_invalid=True)
    assert list(batch.lines.values_list("doctor", flat=True)) == [doctor.pk]
    assert selectors.held_for_doctor(other) == D("44.50")  # waits for the next batch
    other.iban = "IT60X0542811101000000123456"
    other.save()
    second = payouts.payout_batch_run(actor=staff, cutoff=later())
    assert second.number == batch.number + 1 and list(second.lines.values_list("doctor", flat=True)) == [other.pk]


def test_money_received_after_the_cutoff_waits(doctor, patient, billed, staff):
    before = timezone.now() - datetime.timedelta(seconds=1)
    paid(doctor, patient, billed, staff)
    with pytest.raises(acting.BillingError):
        payouts.payout_batch_run(actor=staff, cutoff=before)


def test_a_credit_note_after_a_payout_is_deducted_from_the_next(doctor, patient, billed, staff):
    first = paid(doctor, patient, billed, staff)
    payouts.payout_batch_run(actor=staff, cutoff=later())
    invoices.credit_note_issue(actor=doctor.user, invoice=first.invoice, reason="not delivered in full")
    assert selectors.held_for_doctor(doctor) == D("-44.50")
    paid(doctor, patient, billed, staff, fee="60.00")
    batch = payouts.payout_batch_run(actor=staff, cutoff=later())
    assert batch.lines.get().amount == D("59.50") - D("44.50")
    assert ledger.totals().balances


def test_default_cutoff_is_the_start_of_this_week_in_rome():
    now = datetime.datetime(2026, 3, 5, 10, 0, tzinfo=datetime.UTC)  # a Thursday
    cutoff = payouts.default_payout_cutoff(now)
    local = timezone.localtime(cutoff)
    assert (local.weekday(), local.hour, local.date()) == (0, 0, datetime.date(2026, 3, 2))
