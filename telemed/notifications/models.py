"""The in-app notification centre, each user's preferences (e-mail and push, per kind) and the
devices that receive pushes."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    """Something that happened for ``recipient``. ``title`` may name clinical things (it stays in
    the app); the e-mail sent for it never carries it (see tasks.send_notification_emails)."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notif_recipient_unread")]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")

    def __str__(self) -> str:
        return self.title


class EmailPreference(models.Model):
    """A user's choices for one kind of notification: e-mail, and push to their devices. No row
    means the kind's defaults; ``push`` empty means the kind's push default (rows written before
    push existed, or by a page that chose only the e-mail)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preferences")
    kind = models.CharField(max_length=40)
    email = models.BooleanField(default=True)
    push = models.BooleanField(null=True, blank=True, default=None)

    class Meta:
        verbose_name = _("e-mail preference")
        verbose_name_plural = _("e-mail preferences")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notifications_preference_unique")]


class PushSubscription(models.Model):
    """One browser (a phone, a computer) that agreed to receive pushes for ``user``: what its push
    service gave it (RFC 8030 endpoint, RFC 8291 keys). An endpoint belongs to one browser, so to
    the last user who opted in on it. Deleted when the push service says it is gone (404/410)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=120)
    auth = models.CharField(max_length=60)
    label = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("push subscription")
        verbose_name_plural = _("push subscriptions")

    def __str__(self) -> str:
        return self.label or self.endpoint[:60]
