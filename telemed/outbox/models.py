from django.db import models
from django.utils.translation import gettext_lazy as _


class SentMessage(models.Model):
    """One message (an e-mail, a notification) a task sent, by its idempotency key (see services.py)."""

    key = models.CharField(max_length=200, unique=True)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("sent message")
        verbose_name_plural = _("sent messages")

    def __str__(self) -> str:
        return self.key
