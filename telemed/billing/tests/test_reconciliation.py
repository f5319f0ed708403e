"""Bank statements (camt.053): exact matches settle, everything else waits for staff; bad files
change nothing; the same statement twice changes nothing; staff apply, refund, or mark by hand."""

import io
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied

from telemed.billing import acting, ledger, payments, reconciliation
from telemed.billing.models import (
    Account,
    BankStatement,
    IncomingTransfer,
    Invoice,
    LedgerEntry,
    PaymentStatus,
    QueueReason,
    TransferStatus,
)
from telemed.billing.tests.conftest import camt053

pytestmark = pytest.mark.django_db


def upload(staff, content: bytes, name="statement.xml"):
    return reconciliation.statement_import(actor=staff, stream=io.BytesIO(content), file_name=name)


def nothing_changed():
    return not (
        BankStatement.objects.exists()
        or IncomingTransfer.objects.exists()
        or LedgerEntry.objects.filter(operation="transfer_received").exists()
    )


def test_the_same_statement_twice_changes_nothing(doctor, patient, billed, staff):
    request = billed(doctor, patient)
    content = camt053(
        [
            {"amount": "48.00", "reference": request.reference, "bank_ref": "B1"},
            {"amount": "10.00", "text": "regalo", "bank_ref": "B2"},
        ]
    )
    first = upload(staff, content)
    assert (first.matched, first.queued) == (1, 1)
    entries = LedgerEntry.objects.count()
    again = upload(staff, content)
    assert again.already_imported and LedgerEntry.objects.count() == entries
    # The same entries in another file (e.g. re-exported by the bank) are recognised too.
    other = upload(
        staff, camt053([{"amount": "48.00", "reference": request.reference, "bank_ref": "B1"}], statement_id="STMT-2")
    )
    assert (other.matched, other.queued, other.known) == (0, 0, 1)
    assert IncomingTransfer.objects.count() == 2 and Invoice.objects.count() == 1


def test_reference_in_the_free_text_is_found_too(doctor, patient, billed, staff):
    request = billed(doctor, patient)
    spaced = " ".join(request.reference[i : i + 4] for i in range(0, len(request.reference), 4)).lower()
    result = upload(staff, camt053([{"amount": "48.00", "text": f"Pagamento consulto {spaced} grazie"}]))
    assert result.matched == 1
    request.refresh_from_db()
    assert request.status == PaymentStatus.PAID


@pytest.mark.parametrize(
    ("amount", "reason"),
    [("40.00", QueueReason.PARTIAL), ("50.00", QueueReason.EXCESS)],
)
def test_partial_and_excess_transfers_wait_for_staff(doctor, patient, billed, staff, amount, reason):
    request = billed(doctor, patient)
    upload(staff, camt053([{"amount": amount, "reference": request.reference}]))
    row = IncomingTransfer.objects.get()
    assert (row.status, row.queue_reason, row.payment_request) == (TransferStatus.QUEUED, reason, request)
    request.refresh_from_db()
    assert request.status == PaymentStatus.OPEN and request.received == 0
    assert ledger.balance(Account.UNAPPLIED) == D(amount)
    assert ledger.totals().balances


def test_unknown_duplicate_and_foreign_currency_transfers_wait_for_staff(doctor, patient, billed, staff):
    request = billed(doctor, patient)
    upload(staff, camt053([
        {"amount": "48.00", "reference": request.reference, "bank_ref": "A"},
        {"amount": "48.00", "reference": request.reference, "bank_ref": "B"},
        {"amount": "48.00", "reference": "RF18539007547034", "bank_ref": "C"},
        {"amount": "48.00", "text": "nessun riferimento", "bank_ref": "D"},
        {"amount": "48.00", "reference": request.reference, "currency": "CHF", "bank_ref": "E"},
    ]))  # fmt: skip
    reasons = dict(IncomingTransfer.objects.values_list("entry_key", "queue_reason"))
    assert sorted(reasons.values()) == sorted(
        ["", QueueReason.DUPLICATE, QueueReason.UNKNOWN, QueueReason.UNKNOWN, QueueReason.CURRENCY]
    )
    # No money counted twice: one invoice, the duplicate is held.
    assert Invoice.objects.count() == 1
    assert ledger.balance(Account.UNAPPLIED) == D("192.00")
    assert ledger.totals().balances


def test_staff_apply_two_part_payments_and_refund_an_excess(doctor, patient, billed, staff):
    request = billed(doctor, patient)
    upload(staff, camt53 := camt053([{"amount": "20.00", "reference": request.reference, "bank_ref": "P1"}]))  # noqa: F841
    part = IncomingTransfer.objects.get()
    reconciliation.transfer_apply(actor=staff, transfer_row=part, payment_request=request, note="first instalment")
    request.refresh_from_db()
    assert (request.received, request.status) == (D("20.00"), PaymentStatus.OPEN)
    # The rest arrives with a little extra.
    upload(staff, camt053([{"amount": "30.00", "reference": request.reference, "bank_ref": "P2"}], statement_id="S2"))
    excess = IncomingTransfer.objects.get(entry_key__endswith="P2")
    assert excess.queue_reason == QueueReason.EXCESS
    reconciliation.transfer_apply(actor=staff, transfer_row=excess, payment_request=request, note="second instalment")
    request.refresh_from_db()
    assert request.status == PaymentStatus.PAID and Invoice.objects.filter(payment_request=request).exists()
    excess.refresh_from_db()
    assert excess.remaining == D("2.00") and excess.status == TransferStatus.QUEUED
    reconciliation.transfer_refund(actor=staff, transfer_row=excess, note="2 EUR sent back")
    excess.refresh_from_db()
    assert excess.status == TransferStatus.RESOLVED and ledger.balance(Account.UNAPPLIED) == 0
    totals = ledger.totals()
    assert totals.payments_received == D("48.00") and totals.balances
    with pytest.raises(acting.BillingError):  # resolved: nothing more to do with it
        reconciliation.transfer_refund(actor=staff, transfer_row=excess, note="once more please")


def test_manual_marking_needs_a_reason_and_staff(doctor, patient, billed, staff):
    request = billed(doctor, patient)
    with pytest.raises(acting.BillingError):
        payments.payment_mark_paid(actor=staff, payment_request=request, reason="ok")
    with pytest.raises(PermissionDenied):
        payments.payment_mark_paid(actor=doctor.user, payment_request=request, reason="paid in cash to me")
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    request.refresh_from_db()
    assert request.status == PaymentStatus.PAID
    assert request.applications.get().reason == "paid at the front desk"
    with pytest.raises(acting.BillingError):  # already paid: no money counted twice
        payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    assert ledger.totals().payments_received == D("48.00")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not xml at all",
        b"<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:pain.001.001.09'/>",
        b"<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'><Other/></Document>",
        b"<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;'>]><Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'>&b;</Document>",
        b"<html><body>statement</body></html>",
        b"<?xml version='1.0'?><Document xmlns='urn:iso:std:iso:20022:tech:xsd:camt.053.001.02'><BkToCstmrStmt><Stmt><Id>1</Id></Stmt></BkToCstmrStmt></Document>",
    ],
    ids=["empty", "not-xml", "pain-not-camt", "no-statement", "entities", "html", "no-account"],
)
def test_malformed_or_foreign_files_are_refused_and_change_nothing(staff, content):
    with pytest.raises(acting.BillingError):
        upload(staff, content)
    assert nothing_changed()


def test_a_statement_of_another_account_is_refused(staff):
    with pytest.raises(acting.BillingError, match="IT60X0542811101000000123456"):
        upload(staff, camt053([{"amount": "10.00", "text": "x"}], iban="IT60X0542811101000000123456"))
    assert nothing_changed()


def test_a_bad_amount_refuses_the_whole_file(doctor, patient, billed, staff):
    request = billed(doctor, patient)
    content = camt053([{"amount": "48.00", "reference": request.reference}, {"amount": "abc", "text": "x"}])
    with pytest.raises(acting.BillingError):
        upload(staff, content)
    assert nothing_changed()
    request.refresh_from_db()
    assert request.status == PaymentStatus.OPEN


def test_debits_and_later_camt_versions(staff):
    content = camt053([{"amount": "10.00", "text": "x", "indicator": "DBIT"}, {"amount": "5.00", "text": "y"}],
                      version="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08")  # fmt: skip
    result = upload(staff, content)
    assert result.queued == 1 and result.statement.entries == 2


def test_only_staff_import(doctor):
    with pytest.raises(PermissionDenied):
        upload(doctor.user, camt053([]))
