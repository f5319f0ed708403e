"""Background work of visits: the confirmation e-mail with its calendar entry, and the reminders."""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django_tasks import task

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
    event.add("summary", translation.gettext("Video visit with %(doctor)s") % {"doctor": booking.doctor.get_full_name()})
    event.add("url", settings.BASE_URL + reverse("visits:booking", args=[booking.pk]))
    calendar.add_component(event)
    return calendar.to_ical()


@task()
def send_booking_confirmation(*, booking_id: int) -> None:
    from telemed.visits.models import Booking, BookingStatus

    booking = Booking.objects.select_related("doctor", "patient").filter(pk=booking_id).first()
    if booking is None or booking.status != BookingStatus.BOOKED:
        return  # cancelled meanwhile: nothing to confirm
    link = settings.BASE_URL + reverse("visits:booking", args=[booking.pk])
    for recipient in (booking.patient, booking.doctor):
        with translation.override(recipient.language):
            context = {"booking": booking, "link": link, "recipient": recipient}
            subject = " ".join(render_to_string("visits/email/confirmation_subject.txt", context).split())
            body = render_to_string("visits/email/confirmation_body.txt", context)
            message = EmailMessage(subject=subject, body=body, to=[recipient.email])
            message.attach("visit.ics", booking_ics(booking), ICS_MIME)
        message.send()


@task()
def send_visit_reminder(*, booking_id: int, start: str) -> None:
    """The day-before and hour-before reminder; a visit moved or cancelled since is skipped."""
    from telemed.notifications.services import notify
    from telemed.visits.models import Booking, BookingStatus

    booking = Booking.objects.select_related("doctor", "patient").filter(pk=booking_id).first()
    if booking is None or booking.status != BookingStatus.BOOKED or booking.start.isoformat() != start:
        return
    link = reverse("visits:booking", args=[booking.pk])
    for recipient in (booking.patient, booking.doctor):
        with translation.override(recipient.language):
            local = booking.start.astimezone(ROME).strftime("%d/%m/%Y %H:%M")
            notify(
                recipient=recipient,
                kind="visit_reminder",
                title=translation.gettext("Reminder: video visit on %(when)s") % {"when": local},
                url=link,
            )
