"""Video visits: the doctor's agenda rules, bookings, date negotiations and what happens in the room.

Free slots are never stored: they are computed from the rules, the exceptions, the national
holidays the doctor did not open and the bookings (see ``telemed.visits.slots``).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

SLOT_MINUTES = (15, 30, 45, 60)


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class Agenda(models.Model):
    """One per doctor: the settings of their online agenda. Its row is locked while booking, so
    that two bookings for the same doctor are checked one after the other."""

    doctor = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="visit_agenda")
    slot_minutes = models.PositiveSmallIntegerField(
        _("visit length (minutes)"), default=30, choices=[(m, m) for m in SLOT_MINUTES]
    )
    horizon_days = models.PositiveSmallIntegerField(_("bookable up to (days ahead)"), default=30)
    min_notice_hours = models.PositiveSmallIntegerField(_("minimum notice (hours)"), default=2)
    cancel_notice_hours = models.PositiveSmallIntegerField(_("cancellation allowed up to (hours before)"), default=24)
    reschedule_notice_hours = models.PositiveSmallIntegerField(
        _("rescheduling allowed up to (hours before)"), default=24
    )

    class Meta:
        verbose_name = _("agenda")
        verbose_name_plural = _("agendas")
        constraints = [
            models.CheckConstraint(condition=Q(slot_minutes__in=SLOT_MINUTES), name="visits_agenda_slot_minutes"),
            models.CheckConstraint(
                condition=Q(horizon_days__gte=1, horizon_days__lte=365), name="visits_agenda_horizon"
            ),
        ]

    def __str__(self) -> str:
        return f"agenda of {self.doctor_id}"


class AvailabilityRule(models.Model):
    """A weekly window (Europe/Rome wall-clock) in which visits may be booked. Pauses are the gaps
    between a day's windows; windows of the same day never overlap (checked by the service)."""

    agenda = models.ForeignKey(Agenda, on_delete=models.CASCADE, related_name="rules")
    weekday = models.PositiveSmallIntegerField(_("day"), choices=Weekday.choices)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("to"))

    class Meta:
        verbose_name = _("availability rule")
        verbose_name_plural = _("availability rules")
        ordering = ["weekday", "start"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="visits_rule_end_after_start")
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class AgendaException(models.Model):
    """Days without visits (holidays, absences), both ends included."""

    agenda = models.ForeignKey(Agenda, on_delete=models.CASCADE, related_name="exceptions")
    first_day = models.DateField(_("from"))
    last_day = models.DateField(_("to"))
    reason = models.CharField(_("reason"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("agenda exception")
        verbose_name_plural = _("agenda exceptions")
        ordering = ["first_day"]
        constraints = [
            models.CheckConstraint(condition=Q(last_day__gte=models.F("first_day")), name="visits_exception_order")
        ]


class HolidayOpening(models.Model):
    """A national public holiday the doctor works on: without one, the weekly windows give no
    slots on that day (see ``telemed.visits.slots``)."""

    agenda = models.ForeignKey(Agenda, on_delete=models.CASCADE, related_name="holiday_openings")
    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("holiday opening")
        verbose_name_plural = _("holiday openings")
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["agenda", "day"], name="visits_one_opening_per_holiday")]


class BookingStatus(models.TextChoices):
    # A context of its own: "Booked" alone is also a bank statement's booking date ("Contabilizzato").
    BOOKED = "booked", pgettext_lazy("visit status", "Booked")
    IN_PROGRESS = "in_progress", _("In progress")
    ENDED = "ended", _("Ended")
    DELIVERED = "delivered", _("Report delivered")
    CANCELLED = "cancelled", _("Cancelled")


# The statuses that hold a slot: a cancelled booking frees it.
ACTIVE_STATUSES = (BookingStatus.BOOKED, BookingStatus.IN_PROGRESS, BookingStatus.ENDED, BookingStatus.DELIVERED)


class ExamStatement(models.TextChoices):
    ADEQUATE = "adequate", _("The remote examination was adequate")
    IN_PERSON = "in_person", _("An in-person visit is needed")


class Booking(models.Model):
    """A video visit at an agreed time, with the cost breakdown the patient accepted."""

    doctor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visits_as_doctor")
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visits_as_patient")
    start = models.DateTimeField(_("start"))
    end = models.DateTimeField(_("end"))
    duration_minutes = models.PositiveSmallIntegerField()
    status = models.CharField(_("status"), max_length=12, choices=BookingStatus.choices, default=BookingStatus.BOOKED)
    breakdown = models.JSONField(default=dict)
    accepted_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The room.
    patient_waiting_at = models.DateTimeField(null=True, blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    doctor_notes = models.TextField(blank=True, max_length=20000)
    # Connection quality measured by both browsers (getStats), aggregated: see rooms.visit_stats_record.
    quality = models.JSONField(default=dict, blank=True)
    statement = models.CharField(max_length=12, choices=ExamStatement.choices, blank=True)
    report = models.OneToOneField(
        "reports.Report", null=True, blank=True, on_delete=models.PROTECT, related_name="video_visit"
    )
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["start"]
        constraints = [
            # Two patients racing for one slot: the database lets exactly one in.
            models.UniqueConstraint(
                fields=["doctor", "start"],
                condition=Q(status__in=[s.value for s in ACTIVE_STATUSES]),
                name="visits_one_active_booking_per_doctor_start",
            ),
            models.CheckConstraint(condition=Q(end__gt=models.F("start")), name="visits_booking_end_after_start"),
        ]
        indexes = [models.Index(fields=["doctor", "start"]), models.Index(fields=["patient", "start"])]

    def __str__(self) -> str:
        return f"visit {self.pk} at {self.start:%Y-%m-%d %H:%M}"

    @property
    def awaits_report(self) -> bool:
        """The call took place and its report is not signed yet: the doctor still owes it."""
        return self.admitted_at is not None and self.status in (BookingStatus.IN_PROGRESS, BookingStatus.ENDED)


class ProposalStatus(models.TextChoices):
    WAITING_DOCTOR = "waiting_doctor", _("Waiting for the doctor")
    WAITING_PATIENT = "waiting_patient", _("Waiting for the patient")
    AGREED = "agreed", _("Agreed")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class DateProposal(models.Model):
    """A patient's request for a date outside the free slots, negotiated until agreed or rejected."""

    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visit_proposals_received"
    )
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visit_proposals_sent")
    start = models.DateTimeField(_("proposed start"))
    duration_minutes = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.WAITING_DOCTOR)
    breakdown = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    booking = models.OneToOneField(Booking, null=True, blank=True, on_delete=models.PROTECT, related_name="proposal")

    class Meta:
        verbose_name = _("date proposal")
        verbose_name_plural = _("date proposals")
        ordering = ["-updated_at"]


class ProposalAction(models.TextChoices):
    # Labels read as the history: "<author> (<when>): proposed Mon 07/12 18:00".
    PROPOSE = "propose", _("proposed")
    ACCEPT = "accept", _("accepted the date")
    REJECT = "reject", _("rejected the request")
    WITHDRAW = "withdraw", _("withdrew the request")


class ProposalStep(models.Model):
    """One move of a negotiation, with its message: the history both sides see."""

    proposal = models.ForeignKey(DateProposal, on_delete=models.CASCADE, related_name="steps")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=ProposalAction.choices)
    start = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("proposal step")
        verbose_name_plural = _("proposal steps")
        ordering = ["created_at", "pk"]


class RoomMessage(models.Model):
    """The room's text chat, kept with the visit. A file sent by the patient is a document of their
    Welbox shared with the doctor; only its id and name are kept here."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=4000, blank=True)
    document_id = models.PositiveBigIntegerField(null=True, blank=True)
    document_name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("room message")
        verbose_name_plural = _("room messages")
        ordering = ["created_at", "pk"]
