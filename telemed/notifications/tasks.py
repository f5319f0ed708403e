"""E-mails for notifications. They never carry clinical content: only that something arrived."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django_tasks import task

from telemed.outbox.services import email_send_once


@task()
def send_notification_email(*, notification_id: int) -> None:
    from telemed.notifications import kinds, presence
    from telemed.notifications.models import Notification

    notification = Notification.objects.select_related("recipient").filter(pk=notification_id).first()
    if notification is None or notification.read_at or notification.emailed_at:
        return  # already seen in the app, or already e-mailed: nothing to say
    recipient = notification.recipient
    if not recipient.is_active or presence.is_online(recipient.pk):
        return  # they are looking at the platform: the live notification reached them
    link = settings.BASE_URL + (notification.url or "/notifications/")
    with translation.override(recipient.language):
        context = {"user": recipient, "kind": kinds.get(notification.kind).label, "link": link}
        subject = " ".join(render_to_string("notifications/email/notification_subject.txt", context).split())
        body = render_to_string("notifications/email/notification_body.txt", context)
    # One e-mail per notification, whichever run of this task (or of a copy of it) sends it.
    email_send_once(
        key=f"notification:{notification.pk}",
        message=EmailMultiAlternatives(subject=subject, body=body, to=[recipient.email]),
        before_send=lambda: Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now()),
    )
