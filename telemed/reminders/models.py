"""Reminders of the health agenda, their deliveries, the doses marked as taken, and each
patient's agenda settings (calendar feed, e-mail details)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from telemed.reminders.recurrence import Frequency, MonthlyMode


class ReminderKind(models.TextChoices):
    THERAPY = "therapy", _("Therapy")
    APPOINTMENT = "appointment", _("Appointment")
    FOLLOW_UP = "follow_up", _("Follow-up")
    OTHER = "other", _("Other")


class StopReason(models.TextChoices):
    BY_PATIENT = "patient", _("Stopped by the patient")
    BY_DOCTOR = "doctor", _("Stopped by the doctor")
    LINK_ENDED = "link_ended", _("The care link with the doctor has ended")


class Reminder(models.Model):
    """One series in a patient's agenda, set by the patient or by a linked doctor (``doctor``).

    The structured choices (start date, times, frequency…) feed the form and the plain-language
    description; ``rrule`` is the same choice as an RFC 5545 rule over the days, each time of
    the day repeating on them. ``starts_at``/``ends_before`` bound the series in UTC (a series
    edited "from this occurrence onwards" ends before it, and its continuation starts there).
    ``next_fire_at`` is the next occurrence still to deliver, in UTC; None when nothing is left.
    """

    # Both are indexed by the composite indexes below, which lead with them.
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders", db_index=False
    )
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reminders_for_patients",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=12, choices=ReminderKind.choices, default=ReminderKind.THERAPY)
    title = models.CharField(_("title"), max_length=120)
    notes = models.TextField(_("notes"), max_length=1000, blank=True)

    start_date = models.DateField(_("start date"))
    times = models.JSONField(_("times of the day"), default=list)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.ONCE)
    interval = models.PositiveSmallIntegerField(default=1)
    weekdays = models.JSONField(default=list, blank=True)
    monthly_mode = models.CharField(max_length=12, choices=MonthlyMode.choices, default=MonthlyMode.DAY_OF_MONTH)
    until = models.DateField(null=True, blank=True)
    count = models.PositiveIntegerField(null=True, blank=True)
    rrule = models.CharField(max_length=200)

    starts_at = models.DateTimeField()
    ends_before = models.DateTimeField(null=True, blank=True)
    next_fire_at = models.DateTimeField(null=True, blank=True)

    muted_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=12, choices=StopReason.choices, blank=True)
    continued_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="continues"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["start_date", "id"]
        indexes = [
            # The dispatchers' one question: what is due? Only live series are in the index.
            models.Index(fields=["next_fire_at"], condition=Q(next_fire_at__isnull=False), name="reminder_due"),
            models.Index(fields=["patient", "stopped_at"], name="reminder_patient"),
            models.Index(fields=["doctor", "patient"], condition=Q(doctor__isnull=False), name="reminder_doctor"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(interval__gte=1), name="reminder_interval_positive"),
            models.CheckConstraint(
                condition=Q(until__isnull=True) | Q(count__isnull=True), name="reminder_until_or_count"
            ),
            models.CheckConstraint(
                condition=Q(ends_before__isnull=True) | Q(ends_before__gt=models.F("starts_at")),
                name="reminder_ends_after_start",
            ),
        ]
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")

    def __str__(self) -> str:
        return self.title

    @property
    def is_from_doctor(self) -> bool:
        return self.doctor_id is not None

    @property
    def is_active(self) -> bool:
        return self.stopped_at is None and self.continued_by_id is None


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("reminder delivery", "Due, being sent")
    SENT = "sent", pgettext_lazy("reminder delivery", "Delivered")
    MUTED = "muted", pgettext_lazy("reminder delivery", "Muted by the patient")
    SKIPPED = "skipped", pgettext_lazy("reminder delivery", "Not sent: the care link has ended")
    MISSED = "missed", pgettext_lazy("reminder delivery", "Not sent: too late")


class Delivery(models.Model):
    """One occurrence of one reminder, recorded once: the unique key (reminder, occurrence) is
    what makes delivery exactly-once whatever the dispatchers do (race, crash, restart)."""

    reminder = models.ForeignKey(Reminder, on_delete=models.CASCADE, related_name="deliveries")
    occurrence = models.DateTimeField()
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    late = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurrence"]
        constraints = [models.UniqueConstraint(fields=["reminder", "occurrence"], name="reminder_delivery_once")]
        indexes = [
            models.Index(fields=["occurrence"], condition=Q(status="pending"), name="reminder_delivery_pending"),
        ]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")


class Dose(models.Model):
    """A therapy occurrence the patient marked as taken."""

    reminder = models.ForeignKey(Reminder, on_delete=models.CASCADE, related_name="doses")
    occurrence = models.DateTimeField()
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("dose")
        verbose_name_plural = _("doses")
        constraints = [models.UniqueConstraint(fields=["reminder", "occurrence"], name="reminder_dose_once")]


class AgendaSettings(models.Model):
    """A patient's choices for the agenda: the secret calendar-feed token (None: no feed) and
    whether reminder e-mails and the feed may carry the reminders' details (title and notes)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agenda_settings")
    email_details = models.BooleanField(default=False)
    feed_details = models.BooleanField(default=False)
    feed_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    feed_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agenda settings")
        verbose_name_plural = _("agenda settings")
