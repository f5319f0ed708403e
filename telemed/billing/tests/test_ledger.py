"""The ledger invariant, for any sequence of operations (hypothesis): payments received =
doctor payouts + charity payouts + platform fees + bank fees + amounts still held; and every one
of those figures agrees with the records it comes from (transfers, invoices, payout lines)."""

import datetime
import io
import itertools
from decimal import Decimal as D

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from telemed.billing import acting, donations, ledger, payments, payouts, pricing, proformas, reconciliation, tariffs
from telemed.billing.invoices import credit_note_issue
from telemed.billing.models import (
    IncomingTransfer,
    Invoice,
    InvoiceKind,
    PaymentRequest,
    PaymentStatus,
    PayoutLine,
    Refund,
    StoragePlan,
    TransferStatus,
)
from telemed.billing.tests.conftest import camt053

ZERO = D("0.00")
_refs = itertools.count(1)


@pytest.mark.django_db(transaction=False)
def test_the_ledger_balances_for_any_sequence_of_operations(make_doctor, make_patient_user, staff, charity):
    charity.iban = "IT60X0542811101000000123456"
    charity.save()
    doctors = [make_doctor("Marco", "Bianchi"), make_doctor("Carla", "Neri")]
    patients = [make_patient_user("Anna"), make_patient_user("Bruno")]
    plan = StoragePlan.objects.create(name="Plus", extra_gigabytes=5, price=D("9.90"))
    for doctor in doctors:
        tariffs.tariff_set(
            actor=doctor.user, doctor=doctor, kind="base", fee=D("45.00"), response_value=72, response_unit="hours"
        )

    class Operations(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.moment = timezone.now()

        @rule(doctor=st.sampled_from(doctors), patient=st.sampled_from(patients),
              fee=st.decimals(min_value=D("0.01"), max_value=D("300.00"), places=2))  # fmt: skip
        def deliver_and_bill(self, doctor, patient, fee):
            breakdown = pricing.price(fee=fee, rules=pricing.fee_rules_for(doctor=doctor, kind="base"), kind="base")
            service = proformas.billable_service_register(
                doctor=doctor, patient=patient, kind="base", duration_minutes=None, breakdown=breakdown,
                accepted_at=timezone.now(), source_label="Consulto",
            )  # fmt: skip
            proforma = proformas.proformas_draft(actor=doctor.user, service_ids=[service.pk])[0]
            payments.proformas_validate(actor=doctor.user, include=[proforma.pk])

        @rule(patient=st.sampled_from(patients))
        def buy_space(self, patient):
            payments.storage_purchase_start(actor=patient, plan=plan)

        @rule(kind=st.sampled_from(["exact", "partial", "excess", "unknown", "duplicate"]), data=st.data())
        def transfer_arrives(self, kind, data):
            requests = list(PaymentRequest.objects.order_by("pk"))
            request = data.draw(st.sampled_from(requests)) if requests else None
            if request is None or kind == "unknown":
                entry = {
                    "amount": str(data.draw(st.decimals(min_value=D("0.01"), max_value=D("500"), places=2))),
                    "text": "?",
                }
            else:
                base = request.outstanding if request.is_open else request.amount
                amount = {"exact": base, "duplicate": base, "partial": (base / 2).quantize(D("0.01")) or D("0.01"),
                          "excess": base + D("1.00")}[kind]  # fmt: skip
                entry = {"amount": str(max(amount, D("0.01"))), "reference": request.reference}
            entry["bank_ref"] = f"E{next(_refs)}"
            reconciliation.statement_import(
                actor=staff, stream=io.BytesIO(camt053([entry], statement_id=entry["bank_ref"])), file_name="s.xml"
            )

        @rule(data=st.data())
        def staff_apply_or_refund(self, data):
            queued = list(IncomingTransfer.objects.filter(status=TransferStatus.QUEUED).order_by("pk"))
            if not queued:
                return
            row = data.draw(st.sampled_from(queued))
            target = row.payment_request
            if data.draw(st.booleans()) and target is not None and target.is_open and row.currency == "EUR":
                reconciliation.transfer_apply(
                    actor=staff, transfer_row=row, payment_request=target, note="checked by staff"
                )
            else:
                reconciliation.transfer_refund(actor=staff, transfer_row=row, note="sent back to the payer")

        @rule(data=st.data())
        def mark_by_hand(self, data):
            open_requests = list(PaymentRequest.objects.filter(status=PaymentStatus.OPEN).order_by("pk"))
            if open_requests:
                request = data.draw(st.sampled_from(open_requests))
                payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")

        @rule(fee=st.decimals(min_value=D("0"), max_value=D("20"), places=2),
              bank=st.decimals(min_value=D("0"), max_value=D("3"), places=2), donate=st.booleans())  # fmt: skip
        def fees_change(self, fee, bank, donate):
            tariffs.platform_fee_set(actor=staff, kind="base", fee=fee)
            tariffs.bank_fee_set(actor=staff, fixed=bank, percent=D("1.5"))
            donations.donation_set(
                actor=doctors[0].user, percent=D("25") if donate else D("0"), charity=charity if donate else None
            )

        @rule(data=st.data())
        def credit_note(self, data):
            invoices = list(Invoice.objects.filter(kind=InvoiceKind.INVOICE, credit_note__isnull=True).order_by("pk"))
            if invoices:
                invoice = data.draw(st.sampled_from(invoices))
                credit_note_issue(actor=invoice.doctor.user, invoice=invoice, reason="corrected by the doctor")

        @rule()
        def refunds_made(self):
            for refund in Refund.objects.filter(done_at__isnull=True):
                reconciliation.refund_mark_done(actor=staff, refund=refund, note="refund transfer sent")

        @rule()
        def payout(self):
            try:
                payouts.payout_batch_run(actor=staff, cutoff=timezone.now() + datetime.timedelta(seconds=1))
            except acting.BillingError:
                pass  # nothing to pay

        @invariant()
        def ledger_balances_and_matches_the_records(self):
            totals = ledger.totals()
            assert totals.balances, totals
            received = ledger.cents(IncomingTransfer.objects.aggregate(s=Sum("amount"))["s"]) + sum(
                (a.amount for r in PaymentRequest.objects.all() for a in r.applications.filter(transfer__isnull=True)),
                ZERO,
            )
            refunded = ledger.cents(IncomingTransfer.objects.aggregate(s=Sum("refunded"))["s"]) + ledger.cents(
                Refund.objects.filter(done_at__isnull=False).aggregate(s=Sum("amount"))["s"]
            )
            assert totals.payments_received == received - refunded
            paid_out = ledger.cents(PayoutLine.objects.aggregate(s=Sum("amount"))["s"])
            assert totals.doctor_payouts + totals.charity_payouts == paid_out
            # Platform fees and bank fees: from the invoices (credit notes take them back) and storage sales.
            platform = bank = ZERO
            for invoice in Invoice.objects.all():
                sign = -1 if invoice.kind == InvoiceKind.CREDIT_NOTE else 1
                split = pricing.Breakdown.from_dict(invoice.breakdown).split()
                platform += sign * split.platform
                bank += sign * split.bank_fees
            platform += ledger.cents(
                PaymentRequest.objects.filter(status=PaymentStatus.PAID, storage_purchase__isnull=False).aggregate(
                    s=Sum("amount")
                )["s"]
            )
            assert (totals.platform_fees, totals.bank_fees) == (platform, bank)
            # Held: unapplied transfers + part-payments + owed to doctors and charities + refunds due.
            unapplied = sum((t.remaining for t in IncomingTransfer.objects.all()), ZERO)
            toward = ledger.cents(
                PaymentRequest.objects.filter(status=PaymentStatus.OPEN).aggregate(s=Sum("received"))["s"]
            )
            assert ledger.balance("unapplied") == unapplied and ledger.balance("toward_requests") == toward
            assert ledger.balance("refunds_due") == ledger.cents(
                Refund.objects.filter(done_at__isnull=True).aggregate(s=Sum("amount"))["s"]
            )
            # No request is ever paid beyond its amount.
            assert not PaymentRequest.objects.filter(received__gt=models_F("amount")).exists()

    Operations.TestCase.settings = settings(
        max_examples=12, stateful_step_count=14, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )  # fmt: skip
    # Each example runs in a savepoint that is rolled back, so examples start from the same state.
    from django.db import transaction

    class Rollback(Exception):
        pass

    original_init = Operations.__init__

    run = Operations.TestCase("runTest")

    # hypothesis drives examples itself; wrap each in an atomic block rolled back at the end.
    def example_setup():
        atomic = transaction.atomic()
        atomic.__enter__()
        return atomic

    Operations.__init__ = lambda self: (setattr(self, "_atomic", example_setup()), original_init(self))[1]

    def teardown(self):
        self._atomic.__exit__(Rollback, Rollback(), None)

    Operations.teardown = teardown
    run.runTest()


def models_F(name):
    from django.db.models import F

    return F(name)
