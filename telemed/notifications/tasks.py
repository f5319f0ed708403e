"""E-mails and pushes for notifications. They never carry clinical content: only that
something arrived."""

import datetime
import logging
import smtplib

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task

from telemed.outbox.services import email_send_once, message_claim

logger = logging.getLogger(__name__)


# A burst (ten thousand reminders due at 08:00) is e-mailed in tasks of this many: one task
# claim, one read of the notifications, one presence look-up and one SMTP connection for all of
# them, instead of one of each per e-mail. Small enough that two workers share a burst.
EMAILS_PER_TASK = 100


class EmailsNotSent(Exception):
    """Some e-mails of a batch were refused or could not be handed over; the others were. The
    task fails with their list; run again, it sends only those (each e-mail's outbox key)."""


@task()
def send_notification_emails(*, notification_ids: list[int]) -> None:
    """E-mail the recipients of these notifications (only that something arrived, with a link),
    each once whichever run of this task (or of a copy of it) sends it, over one SMTP connection.

    A notification already read in the app or already e-mailed is skipped, and so is a recipient
    looking at the platform (the live notification reached them). One e-mail that fails does not
    stop the others."""
    from telemed.notifications import presence
    from telemed.notifications.models import Notification

    notifications = list(
        Notification.objects.select_related("recipient")
        .filter(pk__in=notification_ids, read_at=None, emailed_at=None, recipient__is_active=True)
        .order_by("pk")
    )
    online = presence.online_among({n.recipient_id for n in notifications})
    waiting = [n for n in notifications if n.recipient_id not in online]
    if not waiting:
        return
    failed = []
    with mail.get_connection() as connection:  # opened once, for the whole batch
        for notification in waiting:
            try:
                _email_notification(notification, connection)
            except (smtplib.SMTPException, OSError) as error:
                failed.append(f"{notification.pk}: {error}")
                connection.close()  # a broken conversation is not reused: the next e-mail opens another
    if failed:
        raise EmailsNotSent("; ".join(failed))


def _email_notification(notification, connection) -> None:
    from telemed.notifications import kinds
    from telemed.notifications.models import Notification

    recipient = notification.recipient
    link = settings.BASE_URL + (notification.url or "/notifications/")
    with translation.override(recipient.language):
        context = {"user": recipient, "kind": kinds.get(notification.kind).label, "link": link}
        subject = " ".join(render_to_string("notifications/email/notification_subject.txt", context).split())
        body = render_to_string("notifications/email/notification_body.txt", context)
    email_send_once(
        key=f"notification:{notification.pk}",
        message=EmailMultiAlternatives(subject=subject, body=body, to=[recipient.email], connection=connection),
        before_send=lambda: Notification.objects.filter(pk=notification.pk).update(emailed_at=timezone.now()),
        undo_before_send=lambda: Notification.objects.filter(pk=notification.pk).update(emailed_at=None),
    )


# A push that failed for another reason than "gone" is tried again after these delays, then
# given up (the notification stays in the app, and the e-mail, if wanted, went its own way).
PUSH_RETRY_DELAYS = (datetime.timedelta(minutes=1), datetime.timedelta(minutes=5), datetime.timedelta(minutes=30))


class _NotDelivered(Exception):
    """Rolls back the claim of a push that did not go out, so that a later run sends it."""


@task()
def send_notification_push(*, notification_id: int, attempt: int = 1) -> None:
    """Push a notification to each device of its recipient, once per device whichever run of
    this task sends it (outbox keys), without its title (see webpush's rules)."""
    from telemed.notifications import kinds, presence, webpush
    from telemed.notifications.models import Notification, PushSubscription

    notification = Notification.objects.select_related("recipient").filter(pk=notification_id).first()
    if notification is None or notification.read_at:
        return  # gone, or already seen in the app: nothing to say
    recipient = notification.recipient
    if not recipient.is_active or presence.is_online(recipient.pk):
        return  # they are looking at the platform: the live notification reached them
    with translation.override(recipient.language):
        data = webpush.payload(
            title=str(kinds.get(notification.kind).label),
            body=_("Something new for you on telemed. Open it to read it."),
            url=reverse("notifications:open", args=[notification.pk]),
            tag=f"notification-{notification.pk}",
            lang=recipient.language,
        )
    failed = []
    for subscription in PushSubscription.objects.filter(user=recipient).order_by("pk"):
        try:
            with transaction.atomic():
                # The key is held while the push service answers: a second run waits, then skips.
                if not message_claim(key=f"push:{notification.pk}:{subscription.pk}"):
                    continue
                outcome = webpush.push_send(
                    endpoint=subscription.endpoint, p256dh=subscription.p256dh, auth=subscription.auth, data=data
                )
                if outcome.gone:
                    PushSubscription.objects.filter(pk=subscription.pk).delete()
                elif outcome.delivered:
                    PushSubscription.objects.filter(pk=subscription.pk).update(last_success_at=timezone.now())
                else:
                    raise _NotDelivered(outcome.error)
        except _NotDelivered as error:
            failed.append(f"{subscription.pk}: {error}")
    if not failed:
        return
    if attempt > len(PUSH_RETRY_DELAYS):
        logger.warning(
            "notification %s: push given up after %d attempts (%s)", notification.pk, attempt, "; ".join(failed)
        )
        return
    with transaction.atomic():
        # One retry per attempt, however many runs of this one reached this point.
        if message_claim(key=f"push-retry:{notification.pk}:{attempt}"):
            logger.info("notification %s: push failed (%s), trying again", notification.pk, "; ".join(failed))
            send_notification_push.using(run_after=timezone.now() + PUSH_RETRY_DELAYS[attempt - 1]).enqueue(
                notification_id=notification.pk, attempt=attempt + 1
            )
