"""Background work of visits: the confirmation e-mail with its calendar entry, and the reminders."""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django_tasks import task

from telemed.lib import formatting

ICS_MIME = "text/calendar"
ROME = ZoneInfo("Europe/Rome")


def booking_ics(booking) -> bytes:
    """The visit as an iCalendar event: one VEVENT, UTC times, a stable UID so that a moved visit
    updates the same calendar entry."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//telemed//video visits//IT")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"visit-{booking.pk}@telemed")
    event.add("dtstamp", datetime.datetime.now(datetime.UTC))
    event.add("dtstart", booking.start.astimezone(datetime.UTC))
    event.add("dtend", booking.end.astimezone(datetime.UTC))
    event.add("summary", translation.gettext("Video visit with %(doctor)s") % {"doctor": booking.doctor.display_name})
    event.add("url", settings.BASE_URL + reverse("visits:booking", args=[booking.pk]))
    calendar.add_component(event)
    return calendar.to_ical()


@task(takes_context=True)
def send_booking_confirmation(context, *, booking_id: int) -> None:
    from telemed.outbox.services import email_send_once, task_key
    from telemed.visits.models import Booking, BookingStatus

    booking = Booking.objects.select_related("doctor", "patient").filter(pk=booking_id).first()
    if booking is None or booking.status != BookingStatus.BOOKED:
        return  # cancelled meanwhile: nothing to confirm
    link = settings.BASE_URL + reverse("visits:booking", args=[booking.pk])
    for recipient in (booking.patient, booking.doctor):
        with translation.override(recipient.language):
            values = {"booking": booking, "link": link, "recipient": recipient}
            subject = " ".join(render_to_string("visits/email/confirmation_subject.txt", values).split())
            body = render_to_string("visits/email/confirmation_body.txt", values)
            message = EmailMessage(subject=subject, body=body, to=[recipient.email])
            message.attach("visit.ics", booking_ics(booking), ICS_MIME)
        email_send_once(key=task_key(context, recipient.pk), message=message)


@task(takes_context=True)
def send_visit_reminder(context, *, booking_id: int, start: str) -> None:
    """The day-before and hour-before reminder; a visit moved or cancelled since is skipped.
    Each recipient is notified once per run of this task, even if it runs again (telemed/outbox)."""
    from django.db import transaction

    from telemed.notifications.services import notify
    from telemed.outbox.services import message_claim, task_key
    from telemed.visits.models import Booking, BookingStatus

    booking = Booking.objects.select_related("doctor", "patient").filter(pk=booking_id).first()
    # Compared as instants: the start was written in Rome's time, the database gives it in UTC.
    if (
        booking is None
        or booking.status != BookingStatus.BOOKED
        or booking.start != datetime.datetime.fromisoformat(start)
    ):
        return
    link = reverse("visits:booking", args=[booking.pk])
    with transaction.atomic():
        if not message_claim(key=task_key(context)):
            return
        for recipient in (booking.patient, booking.doctor):
            with translation.override(recipient.language):
                notify(
                    recipient=recipient,
                    kind="visit_reminder",
                    title=translation.pgettext("a long date and time", "Reminder: video visit on %(when)s")
                    % {"when": formatting.long_datetime(booking.start)},
                    url=link,
                )
