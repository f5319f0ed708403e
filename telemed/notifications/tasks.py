"""E-mails and pushes for notifications. They never carry clinical content: only that
something arrived."""

import datetime
import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task

from telemed.outbox.services import email_send_once, message_claim

logger = logging.getLogger(__name__)


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
