"""Background work of the agenda: the reminder e-mail with its details, for patients who opted in."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django_tasks import task

from telemed.outbox.services import email_send_once


@task()
def send_reminder_details(*, delivery_id: int) -> None:
    """E-mail one delivered reminder with its title, time and notes.

    Sent once per delivery (telemed/outbox): a task run twice (its worker died mid-way) does not
    send it twice, and the delivery is marked e-mailed in the transaction that sends it."""
    from telemed.reminders.models import AgendaSettings, Delivery
    from telemed.reminders.schedule import ROME
    from telemed.reminders.services import agenda_url

    delivery = Delivery.objects.select_related("reminder__patient", "reminder__doctor").filter(pk=delivery_id).first()
    if delivery is None:
        return
    reminder, patient = delivery.reminder, delivery.reminder.patient
    if not patient.is_active or not AgendaSettings.objects.filter(user=patient, email_details=True).exists():
        return  # the patient changed their mind meanwhile
    if delivery.emailed_at is not None:
        return
    local = delivery.occurrence.astimezone(ROME)
    context = {
        "user": patient,
        "reminder": reminder,
        "when": local,
        "late": delivery.late,
        "link": settings.BASE_URL + agenda_url(local.date()),
    }
    with translation.override(patient.language), timezone.override(ROME):
        subject = " ".join(render_to_string("reminders/email/reminder_subject.txt", context).split())
        body = render_to_string("reminders/email/reminder_body.txt", context)
    email_send_once(
        key=f"reminder-details:{delivery.pk}",
        message=EmailMultiAlternatives(subject=subject, body=body, to=[patient.email]),
        before_send=lambda: Delivery.objects.filter(pk=delivery.pk).update(emailed_at=timezone.now()),
    )
