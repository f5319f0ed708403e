"""Background work of billing: the payment request and its reminders by e-mail (with the EPC QR
code attached), and the invoice's delivery (PDF to the Welbox, the Medbox and the patient's e-mail)."""

from django_tasks import task

from telemed.outbox.services import task_key


@task(takes_context=True)
def send_payment_request(context, *, payment_request_id: int) -> None:
    from telemed.billing.delivery import payment_request_email

    payment_request_email(payment_request_id=payment_request_id, reminder=False, key=task_key(context))


@task(takes_context=True)
def send_payment_reminder(context, *, payment_request_id: int) -> None:
    from telemed.billing.delivery import payment_request_email

    payment_request_email(payment_request_id=payment_request_id, reminder=True, key=task_key(context))


@task()
def deliver_invoice(*, invoice_id: int) -> None:
    from telemed.billing.delivery import invoice_deliver

    invoice_deliver(invoice_id=invoice_id)
