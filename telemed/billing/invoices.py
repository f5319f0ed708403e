"""Invoices and credit notes: numbered without gaps per doctor, kind and year, immutable once issued.

An invoice is issued when its payment request is settled; a credit note corrects a whole invoice
and owes the patient a refund. Their PDF is rendered once from the stored data and kept. The
legal wording (VAT exemption, stamp duty) is in Italian whatever the reader's language.
"""

from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import DoctorProfile, User
from telemed.billing import ledger, pricing, selectors, tasks
from telemed.billing.acting import BillingError, check_doctor, doctor_lock
from telemed.billing.models import (
    DoctorBillingSettings,
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    PaymentRequest,
    Refund,
    StampDutyMode,
)

# Legal wording that Italian law wants on the document, in Italian whatever the reader's language.
VAT_EXEMPTION_WORDING = "Operazione esente IVA ai sensi dell'art. 10, comma 1, n. 18, D.P.R. 633/1972"


STAMP_DUTY_WORDING = {
    StampDutyMode.VIRTUAL: "Imposta di bollo di euro 2,00 assolta in modo virtuale ai sensi dell'art. 6 del D.M. 17 giugno 2014",
    StampDutyMode.ORIGINAL: "Imposta di bollo di euro 2,00 assolta sull'originale",
}


def _next_number(doctor: DoctorProfile, kind: str, year: int) -> int:
    """The next number of the doctor's series for the year: the counter row is locked until the
    issuing transaction ends, so two invoices issued at the same moment queue here, and a
    rolled-back issue gives its number back (no gaps, no duplicates)."""
    InvoiceCounter.objects.bulk_create([InvoiceCounter(doctor=doctor, kind=kind, year=year)], ignore_conflicts=True)
    counter = InvoiceCounter.objects.select_for_update().get(doctor=doctor, kind=kind, year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


def _seller(doctor: DoctorProfile) -> dict:
    return {
        "name": doctor.user.get_full_name(),
        "title": doctor.get_title_display(),  # an Italian fiscal document: "Dott." or "Dott.ssa"
        "codice_fiscale": doctor.codice_fiscale,
        "partita_iva": doctor.partita_iva,
        "address": doctor.practice_address,
        "postcode": doctor.practice_postcode,
        "city": doctor.practice_city,
        "province": doctor.practice_province,
        "ordine": f"{doctor.ordine_province} {doctor.ordine_number}",
    }


def _buyer(patient: User, address: str) -> dict:
    profile = getattr(patient, "patient_profile", None)
    return {
        "name": patient.get_full_name(),
        "codice_fiscale": profile.codice_fiscale if profile else "",
        "address": address,
        "email": patient.email,
    }


def _stamp_duty_note(doctor: DoctorProfile, breakdown: pricing.Breakdown) -> str:
    if not breakdown.has_stamp_duty:
        return ""
    settings_row = selectors.billing_settings_of(doctor)
    mode = settings_row.stamp_duty_mode if settings_row else StampDutyMode.VIRTUAL
    return STAMP_DUTY_WORDING[StampDutyMode(mode)]


def invoice_issue(request: PaymentRequest) -> Invoice:
    """The invoice of a settled request for a doctor's service (a storage purchase has none)."""
    doctor, patient, proforma = request.doctor, request.payer, request.proforma
    if doctor is None or proforma is None:
        raise ValueError("only a request for a doctor's proforma is invoiced")
    now = timezone.now()
    year = timezone.localtime(now).year
    breakdown = pricing.Breakdown.from_dict(proforma.service.breakdown)
    invoice = Invoice.objects.create(
        kind=InvoiceKind.INVOICE, doctor=doctor, patient=patient, payment_request=request, year=year,
        number=_next_number(doctor, InvoiceKind.INVOICE, year), issued_at=now, paid_at=request.paid_at,
        seller=_seller(doctor), buyer=_buyer(patient, request.payer_address),
        description=proforma.service.source_label, breakdown=breakdown.to_dict(), total=breakdown.patient_total,
        sts_opposition=request.sts_opposition, stamp_duty_note=_stamp_duty_note(doctor, breakdown),
    )  # fmt: skip
    tasks.deliver_invoice.enqueue(invoice_id=invoice.pk)
    return invoice


@transaction.atomic
def credit_note_issue(*, actor: User, invoice: Invoice, reason: str) -> Invoice:
    """The doctor corrects an invoice: a credit note for its whole amount, which references it;
    the patient is owed a refund and the money goes back from everyone's share."""
    doctor = check_doctor(actor)
    reason = " ".join(str(reason or "").split())
    if len(reason) < 5:
        raise BillingError({"reason": _("Say why the invoice is corrected (at least 5 characters).")})
    original = Invoice.objects.select_for_update().filter(pk=invoice.pk, doctor=doctor).first()
    if original is None:
        raise PermissionDenied
    if original.is_credit_note:
        raise BillingError(_("A credit note cannot itself be corrected."))
    if Invoice.objects.filter(credits=original).exists():
        raise BillingError(_("Invoice %(number)s already has a credit note.") % {"number": original.display_number})
    now = timezone.now()
    year = timezone.localtime(now).year
    note = Invoice.objects.create(
        kind=InvoiceKind.CREDIT_NOTE, doctor=doctor, patient=original.patient, credits=original, year=year,
        number=_next_number(doctor, InvoiceKind.CREDIT_NOTE, year), issued_at=now, paid_at=None,
        seller=_seller(doctor), buyer=original.buyer, description=original.description, breakdown=original.breakdown,
        total=original.total, sts_opposition=original.sts_opposition, stamp_duty_note=original.stamp_duty_note, reason=reason[:300],
    )  # fmt: skip
    split = pricing.Breakdown.from_dict(original.breakdown).split()
    ledger.Journal(
        "credit_note", actor=actor, links={"invoice": note, "payment_request": original.payment_request}
    ).reverse_allocation(ledger.Account.REFUNDS_DUE, split, doctor=doctor).post()
    Refund.objects.create(credit_note=note, patient=original.patient, amount=original.total)
    tasks.deliver_invoice.enqueue(invoice_id=note.pk)
    return note


def invoice_pdf_ensure(*, invoice: Invoice) -> Invoice:
    """The invoice's PDF, rendered once from its immutable data and kept."""
    from telemed.billing import invoice_pdf

    if invoice.pdf:
        return invoice
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if not locked.pdf:
            pdf = invoice_pdf.render(locked)
            locked.pdf.save(f"{locked.kind}-{locked.number}.pdf", File(pdf), save=False)
            Invoice.objects.filter(pk=locked.pk, pdf="").update(pdf=locked.pdf.name)
        locked.refresh_from_db()
    return locked


@transaction.atomic
def stamp_duty_mode_set(*, actor: User, mode: str) -> DoctorBillingSettings:
    if mode not in StampDutyMode.values:
        raise BillingError({"stamp_duty_mode": _("Choose how you pay the stamp duty.")})
    settings_row = doctor_lock(check_doctor(actor))
    settings_row.stamp_duty_mode = mode
    settings_row.save(update_fields=["stamp_duty_mode", "updated_at"])
    return settings_row
