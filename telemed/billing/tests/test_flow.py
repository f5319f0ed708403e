"""The whole path of a paid service: registered with its accepted breakdown, "Emetti fattura",
review and validation, payment request by e-mail, bank statement, invoice, delivery."""

import datetime
import io
from decimal import Decimal as D

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from pypdf import PdfReader

from telemed.billing import (
    acting,
    donations,
    invoices,
    ledger,
    payments,
    pricing,
    proformas,
    reconciliation,
    selectors,
    tariffs,
    transfer,
)
from telemed.billing.models import (
    Account,
    BillableService,
    Invoice,
    PaymentRequest,
    PaymentStatus,
    Proforma,
    ProformaStatus,
)
from telemed.billing.tests.conftest import camt053
from telemed.boxes.models import Document

pytestmark = pytest.mark.django_db


def import_statement(staff, entries, **kwargs):
    return reconciliation.statement_import(
        actor=staff, stream=io.BytesIO(camt053(entries, **kwargs)), file_name="statement.xml"
    )


def test_a_registered_service_keeps_the_accepted_breakdown_and_waits_to_be_billed(doctor, patient, deliver):
    service = deliver(doctor, patient, fee="80.00")
    assert service.patient_total == D("85.00")  # 80 + 3 platform fee + 2 stamp duty
    stored = pricing.Breakdown.from_dict(service.breakdown)
    assert stored.has_stamp_duty and stored.doctor_fee == D("80.00")
    assert service.accepted_at <= service.delivered_at
    assert list(selectors.services_to_bill(doctor)) == [service]
    # A later fee change does not touch what the patient accepted.
    tariffs.platform_fee_set(
        actor=type(doctor.user).objects.create_superuser("s@x.test", "x" * 12, first_name="S", last_name="T"),
        kind="base",
        fee=D("9.00"),
    )
    service.refresh_from_db()
    assert service.patient_total == D("85.00")


def test_registering_twice_with_the_same_key_gives_one_service(doctor, patient, deliver):
    first = deliver(doctor, patient, key="consult:7")
    assert deliver(doctor, patient, key="consult:7") == first
    assert BillableService.objects.count() == 1


def test_free_services_are_not_billed_and_mismatched_breakdowns_are_refused(doctor, patient):
    free = pricing.price(fee=D("0"), rules=pricing.FeeRules(), kind="info")
    assert proformas.billable_service_register(
        doctor=doctor, patient=patient, kind="info", duration_minutes=None, breakdown=free,
        accepted_at=timezone.now(), source_label="Info",
    ) is None  # fmt: skip
    priced = pricing.price(fee=D("50"), rules=pricing.FeeRules(), kind="base")
    with pytest.raises(ValueError):
        proformas.billable_service_register(
            doctor=doctor, patient=patient, kind="video", duration_minutes=30, breakdown=priced,
            accepted_at=timezone.now(), source_label="Video",
        )  # fmt: skip
    with pytest.raises(ValueError):  # naive time
        proformas.billable_service_register(
            doctor=doctor, patient=patient, kind="base", duration_minutes=None, breakdown=priced,
            accepted_at=datetime.datetime(2026, 1, 1), source_label="x",  # noqa: DTZ001 - refused: naive
        )  # fmt: skip
    assert not BillableService.objects.exists()


def test_emetti_fattura_drafts_one_proforma_per_service_and_validation_sends_requests(
    doctor, make_patient_user, deliver, run_tasks, settings
):
    settings.BILLING_REMINDER_DAYS = "7"
    anna, bruno = make_patient_user("Anna"), make_patient_user("Bruno")
    s1, s2, s3 = deliver(doctor, anna), deliver(doctor, anna, fee="80.00"), deliver(doctor, bruno)
    drafts = proformas.proformas_draft(actor=doctor.user)
    assert sorted(p.service_id for p in drafts) == sorted([s1.pk, s2.pk, s3.pk])
    assert all(p.status == ProformaStatus.DRAFT for p in drafts)
    assert not selectors.services_to_bill(doctor).exists()
    # A second click drafts nothing more.
    assert proformas.proformas_draft(actor=doctor.user) == []

    by_service = {p.service_id: p for p in drafts}
    sent = payments.proformas_validate(
        actor=doctor.user, include=[by_service[s1.pk].pk, by_service[s3.pk].pk], exclude=[by_service[s2.pk].pk]
    )
    assert len(sent) == 2
    assert {r.payer for r in sent} == {anna, bruno}
    for request in sent:
        assert transfer.is_valid_reference(request.reference) and request.reference.startswith("RF")
        assert request.amount == D("48.00") and request.status == PaymentStatus.OPEN
    # The excluded one is back among the services to bill.
    assert list(selectors.services_to_bill(doctor)) == [s2]

    run_tasks()  # the due reminders wait 7 days; the requests go now
    subjects = [m.subject for m in mail.outbox]
    assert len(mail.outbox) == 2, subjects
    message = next(m for m in mail.outbox if anna.email in m.to)
    assert sent[0].reference in message.body.replace(" ", "") or sent[1].reference in message.body.replace(" ", "")
    assert "IT04 T030 6909 6060 0000 0100 000" in message.body
    assert message.attachments[0][2] == "image/png"


def test_validation_is_all_or_nothing(doctor, patient, deliver, make_doctor):
    proforma = proformas.proformas_draft(actor=doctor.user, service_ids=[deliver(doctor, patient).pk])[0]
    other = make_doctor("Carla", "Neri")
    foreign = proformas.proformas_draft(actor=other.user, service_ids=[deliver(other, patient).pk])[0]
    with pytest.raises(acting.BillingError):
        payments.proformas_validate(actor=doctor.user, include=[proforma.pk, foreign.pk])
    proforma.refresh_from_db()
    assert proforma.status == ProformaStatus.DRAFT and not PaymentRequest.objects.exists()
    payments.proformas_validate(actor=doctor.user, include=[proforma.pk])
    # Validating it again (a second tab, a double click) is refused and changes nothing.
    with pytest.raises(acting.BillingError):
        payments.proformas_validate(actor=doctor.user, include=[proforma.pk])
    assert PaymentRequest.objects.count() == 1


def test_a_proforma_for_an_already_billed_service_is_refused(doctor, patient, deliver):
    service = deliver(doctor, patient)
    proformas.proformas_draft(actor=doctor.user, service_ids=[service.pk])
    with pytest.raises(acting.BillingError):
        proformas.proformas_draft(actor=doctor.user, service_ids=[service.pk])
    assert Proforma.objects.filter(service=service).count() == 1


def test_only_the_doctor_bills_their_services(doctor, patient, deliver, make_doctor):
    service = deliver(doctor, patient)
    other = make_doctor("Carla", "Neri")
    with pytest.raises(acting.BillingError):
        proformas.proformas_draft(actor=other.user, service_ids=[service.pk])
    with pytest.raises(PermissionDenied):
        proformas.proformas_draft(actor=patient)


def test_exact_transfer_settles_issues_the_invoice_and_delivers_it(doctor, patient, billed, staff, run_tasks, charity):
    donations.donation_set(actor=doctor.user, percent=D("10"), charity=charity)
    request = billed(doctor, patient, fee="80.00")
    mail.outbox.clear()
    result = import_statement(staff, [{"amount": "85.00", "reference": request.reference, "bank_ref": "B1"}])
    assert (result.matched, result.queued) == (1, 0)
    request.refresh_from_db()
    assert request.status == PaymentStatus.PAID and request.received == D("85.00")
    assert request.proforma.status == ProformaStatus.PAID
    invoice = Invoice.objects.get(payment_request=request)
    year = timezone.localtime(invoice.issued_at).year
    assert (invoice.number, invoice.year, invoice.display_number) == (1, year, f"1/{year}")
    assert (
        invoice.seller["partita_iva"] == doctor.partita_iva
        and invoice.buyer["codice_fiscale"] == patient.patient_profile.codice_fiscale
    )
    assert invoice.total == D("85.00")

    # The ledger: the doctor is owed net + stamp duty, the charity its share, the platform its fee.
    assert ledger.balance(Account.DOCTOR, doctor=doctor) == D("71.55") + D("2.00")  # (80-0.50)*0.9 rounded, + bollo
    assert ledger.balance(Account.CHARITY, charity=charity) == D("7.95")
    assert ledger.balance(Account.PLATFORM_FEES) == D("3.00") and ledger.balance(Account.BANK_FEES) == D("0.50")
    assert ledger.totals().balances

    run_tasks()
    invoice.refresh_from_db()
    assert invoice.pdf and invoice.delivered_at is not None
    text = "".join(page.extract_text() for page in PdfReader(invoice.pdf.open("rb")).pages)
    for expected in ["Operazione esente IVA ai sensi dell'art. 10, comma 1, n. 18, D.P.R. 633/1972",
                     "assolta in modo virtuale", doctor.partita_iva, doctor.codice_fiscale,
                     patient.patient_profile.codice_fiscale, f"1/{year}", "85,00", "0,50"]:  # fmt: skip
        assert expected in text, expected
    # In the patient's Welbox and the doctor's Medbox, and e-mailed with the PDF.
    assert Document.objects.filter(box__owner=patient, mime="application/pdf").count() == 1
    assert Document.objects.filter(box__owner=doctor.user, mime="application/pdf").count() == 1
    message = next(m for m in mail.outbox if patient.email in m.to and m.attachments)
    assert message.attachments[0][2] == "application/pdf"
    # Delivering again sends nothing more.
    from telemed.billing import delivery

    delivery.invoice_deliver(invoice_id=invoice.pk)
    assert Document.objects.filter(box__owner=patient).count() == 1


def test_invoice_numbers_are_per_doctor_and_restart_each_year(doctor, make_doctor, patient, billed, staff, monkeypatch):
    other = make_doctor("Carla", "Neri")
    numbers = []
    for who in (doctor, doctor, other, doctor):
        request = billed(who, patient)
        payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
        numbers.append((who.pk, Invoice.objects.get(payment_request=request).number))
    assert numbers == [(doctor.pk, 1), (doctor.pk, 2), (other.pk, 1), (doctor.pk, 3)]
    next_year = timezone.now() + datetime.timedelta(days=366)
    monkeypatch.setattr(invoices.timezone, "now", lambda: next_year)
    request = billed(doctor, patient)
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    invoice = Invoice.objects.get(payment_request=request)
    assert (invoice.year, invoice.number) == (timezone.localtime(next_year).year, 1)


def test_patient_opposition_and_address_go_on_the_invoice(doctor, patient, billed, staff):
    request = billed(doctor, patient)
    payments.payment_request_details_set(
        actor=patient, payment_request=request, sts_opposition=True, payer_address="Via Po 3, Torino"
    )
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="cash at the clinic")
    invoice = Invoice.objects.get(payment_request=request)
    assert invoice.sts_opposition and invoice.buyer["address"] == "Via Po 3, Torino"
    with pytest.raises(acting.BillingError):  # issued: no more changes
        payments.payment_request_details_set(
            actor=patient, payment_request=request, sts_opposition=False, payer_address=""
        )


def test_credit_note_references_the_invoice_and_reverses_the_money(doctor, patient, billed, staff, run_tasks):
    request = billed(doctor, patient)
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    invoice = Invoice.objects.get(payment_request=request)
    before = ledger.balance(Account.DOCTOR, doctor=doctor)
    with pytest.raises(acting.BillingError):
        invoices.credit_note_issue(actor=doctor.user, invoice=invoice, reason="")
    note = invoices.credit_note_issue(actor=doctor.user, invoice=invoice, reason="service not delivered in full")
    assert note.credits == invoice and note.display_number.startswith("NC 1/") and note.total == invoice.total
    assert ledger.balance(Account.DOCTOR, doctor=doctor) == before - D("44.50")
    assert ledger.balance(Account.REFUNDS_DUE) == D("48.00")
    with pytest.raises(acting.BillingError):  # one credit note per invoice
        invoices.credit_note_issue(actor=doctor.user, invoice=invoice, reason="again and again")
    reconciliation.refund_mark_done(actor=staff, refund=note.refund, note="refund transfer sent")
    assert ledger.balance(Account.REFUNDS_DUE) == 0
    assert ledger.totals().payments_received == 0 and ledger.totals().balances
    run_tasks()
    note.refresh_from_db()
    text = "".join(page.extract_text() for page in PdfReader(note.pdf.open("rb")).pages)
    assert invoice.display_number in text


def test_a_withdrawn_request_frees_its_service(doctor, patient, billed):
    request = billed(doctor, patient)
    payments.payment_request_cancel(actor=doctor.user, payment_request=request)
    request.refresh_from_db()
    assert request.status == PaymentStatus.CANCELLED
    assert selectors.services_to_bill(doctor).count() == 1


def test_reminders_go_only_while_unpaid(doctor, patient, billed, staff):
    from telemed.billing import delivery

    request = billed(doctor, patient)
    mail.outbox.clear()
    delivery.payment_request_email(payment_request_id=request.pk, reminder=True, key="reminder-1")
    assert len(mail.outbox) == 1 and request.reference[:4] in mail.outbox[0].body
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    delivery.payment_request_email(payment_request_id=request.pk, reminder=True, key="reminder-2")
    assert len(mail.outbox) == 1
    request.refresh_from_db()
    assert request.reminders_sent == 1


def test_reminders_are_scheduled_after_the_configured_days(doctor, patient, billed, settings):
    from django_tasks_db.models import DBTaskResult

    settings.BILLING_REMINDER_DAYS = "3,10,junk"
    request = billed(doctor, patient)
    assert payments.reminder_days() == []  # a bad list sends none (and the system check says so)
    settings.BILLING_REMINDER_DAYS = "10,3"
    request = billed(doctor, patient)
    due = sorted(
        result.run_after
        for result in DBTaskResult.objects.filter(task_path__endswith="send_payment_reminder")
        if result.args_kwargs["kwargs"]["payment_request_id"] == request.pk
    )
    assert [round((d - request.created_at).total_seconds() / 86400) for d in due] == [3, 10]
