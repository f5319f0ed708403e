"""What the task worker sends for billing. Each function can run twice and sends once:
a reminder only while the request is open, an invoice only until it is marked delivered."""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from telemed.billing import invoices, notices, transfer
from telemed.billing.models import Invoice, PaymentRequest, PaymentStatus
from telemed.boxes import selectors as box_selectors
from telemed.boxes import services as boxes
from telemed.lib import formatting
from telemed.notifications.services import notify
from telemed.outbox.services import email_send_once

logger = logging.getLogger(__name__)


def _render(template: str, context: dict) -> tuple[str, str]:
    context = {**context, "base_url": settings.BASE_URL}
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    return subject, render_to_string(f"{template}_body.txt", context)


def payment_request_email(*, payment_request_id: int, reminder: bool, key: str) -> None:
    """E-mail the request (or a reminder of it), once for ``key`` (telemed/outbox): a run
    again neither sends it twice nor counts the reminder twice."""
    request = (
        PaymentRequest.objects.select_related("payer", "doctor__user")
        .filter(pk=payment_request_id, status=PaymentStatus.OPEN).first()
    )  # fmt: skip
    if request is None:
        return  # paid or withdrawn meanwhile: nothing to ask for
    try:
        account = transfer.platform_account()
    except transfer.AccountMisconfigured:
        logger.error("payment request %s not e-mailed: the platform's bank account is not configured", request.pk)
        return
    link = settings.BASE_URL + reverse("billing:payment", args=[request.pk])
    with translation.override(request.payer.language):
        subject, body = _render(
            "billing/email/payment_reminder" if reminder else "billing/email/payment_request",
            {
                "request": request,
                "account": account,
                "link": link,
                "reference": transfer.format_reference(request.reference),
            },
        )
        title = _("Reminder: %(amount)s still to pay — %(what)s") % {
            "amount": formatting.money(request.outstanding),
            "what": request.description,
        }
    message = EmailMultiAlternatives(subject=subject, body=body, to=[request.payer.email])
    message.attach(
        f"{request.reference}.png",
        transfer.epc_qr_png(account=account, amount=request.outstanding, reference=request.reference),
        "image/png",
    )

    def record() -> bool:
        # In the commit that records the e-mail as sent: still open, else nothing is sent.
        if not PaymentRequest.objects.select_for_update().filter(pk=request.pk, status=PaymentStatus.OPEN).exists():
            return False
        if reminder:
            PaymentRequest.objects.filter(pk=request.pk).update(reminders_sent=F("reminders_sent") + 1)
            notify(
                recipient=request.payer,
                kind=notices.NOTIFY_PAYMENT_REMINDER,
                title=title,
                url=reverse("billing:payment", args=[request.pk]),
            )
        return True

    email_send_once(key=key, message=message, before_send=record)


def _file_name(invoice: Invoice) -> str:
    kind = _("Credit note") if invoice.is_credit_note else _("Invoice")
    return f"{kind} {invoice.number}-{invoice.year} - {invoice.seller['name']}.pdf"


def invoice_deliver(*, invoice_id: int) -> None:
    """Put the invoice in both boxes, tell the patient and e-mail the PDF, once."""
    invoice = (
        Invoice.objects.select_related("doctor__user", "patient")
        .filter(pk=invoice_id, delivered_at__isnull=True)
        .first()
    )
    if invoice is None:
        return
    invoice = invoices.invoice_pdf_ensure(invoice=invoice)
    patient, doctor = invoice.patient, invoice.doctor.user
    with translation.override(patient.language):
        name = _file_name(invoice)
        title = (
            _("Credit note %(number)s — %(doctor)s") if invoice.is_credit_note else _("Invoice %(number)s — %(doctor)s")
        ) % {"number": invoice.display_number, "doctor": doctor.display_name}
        subject, body = _render("billing/email/invoice", {"invoice": invoice, "title": title})
    message = EmailMultiAlternatives(subject=subject, body=body, to=[patient.email])
    with invoice.pdf.open("rb") as stream:
        # An invoice PDF is a page or two (tens of kB): attaching it whole is bounded.
        message.attach(name, stream.read(), "application/pdf")

    def record() -> bool:
        # In the commit that records the e-mail as sent: the copies in the boxes, the
        # notification and the mark, all or none.
        if (
            not Invoice.objects.select_for_update(of=("self",))
            .filter(pk=invoice.pk, delivered_at__isnull=True)
            .exists()
        ):
            return False
        folder = box_selectors.folder_list_for_user(doctor).filter(patient=patient).first()
        for box, box_folder in ((boxes.box_for(patient), None), (boxes.box_for(doctor), folder)):
            with invoice.pdf.open("rb") as stream:
                boxes.document_store_system(
                    box=box, category="other", name=name, stream=stream, mime="application/pdf", folder=box_folder
                )
        notify(
            recipient=patient, kind=notices.NOTIFY_INVOICE, title=title, url=reverse("billing:payments") + "#invoices"
        )
        Invoice.objects.filter(pk=invoice.pk).update(delivered_at=timezone.now())
        return True

    email_send_once(key=f"invoice-delivery:{invoice.pk}", message=message, before_send=record)
