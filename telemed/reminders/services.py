"""Every use case of the health agenda that changes state. One transaction each; who may act is
checked here: a patient keeps their own agenda; a doctor sets reminders only for a patient
linked to them, and the patient can mute those but not edit them."""

import datetime
import secrets
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from telemed.care.selectors import care_link_is_active
from telemed.notifications import selectors as notification_selectors
from telemed.notifications.services import email_preferences_set, notify
from telemed.reminders.models import AgendaSettings, Dose, Reminder, ReminderKind, StopReason
from telemed.reminders.recurrence import Recurrence
from telemed.reminders.schedule import Series, bounds, to_local
from telemed.reminders.selectors import TAKEN_EARLY_BY

NOTIFICATION_KIND = "reminder"
MAX_TITLE = 120
MAX_NOTES = 1000


@dataclass(frozen=True)
class ReminderText:
    kind: str
    title: str
    notes: str = ""

    def cleaned(self) -> "ReminderText":
        errors = {}
        title = " ".join((self.title or "").replace("\x00", "").split())
        notes = (self.notes or "").replace("\x00", "").strip()
        if not title:
            errors["title"] = _("Give the reminder a title.")
        elif len(title) > MAX_TITLE:
            errors["title"] = _("The title can be at most %(max)d characters long.") % {"max": MAX_TITLE}
        if len(notes) > MAX_NOTES:
            errors["notes"] = _("The notes can be at most %(max)d characters long.") % {"max": MAX_NOTES}
        if self.kind not in ReminderKind.values:
            errors["kind"] = _("Choose what the reminder is for.")
        if errors:
            raise ValidationError(errors)
        return ReminderText(kind=self.kind, title=title, notes=notes)


class EmailChoice:
    NONE = "none"
    SHORT = "short"
    DETAILS = "details"
    ALL = (NONE, SHORT, DETAILS)


def agenda_url(day: datetime.date) -> str:
    return f"{reverse('reminders:agenda')}?date={day.isoformat()}"


def _series_fields(recurrence: Recurrence, *, not_before: datetime.datetime | None = None) -> dict:
    """Model fields of a validated recurrence, with its bounds and next occurrence after now."""
    starts_at, ends_before = bounds(recurrence)
    if not_before is not None:
        starts_at = max(starts_at, not_before)
    if ends_before is not None and ends_before <= starts_at:
        raise ValidationError({"until": _("The end date is before the start date.")})
    fields = {**recurrence.stored(), "starts_at": starts_at, "ends_before": ends_before}
    series = Series(
        rrule=fields["rrule"],
        times=recurrence.times,
        start_date=recurrence.start,
        starts_at=starts_at,
        ends_before=ends_before,
    )
    next_fire_at = series.after(timezone.now())
    if next_fire_at is None:
        raise ValidationError(_("This reminder would never go off: all of its times are in the past."))
    fields["next_fire_at"] = next_fire_at
    return fields


def _check_author(actor, patient) -> None:
    if actor.is_patient:
        if patient.pk != actor.pk:
            raise PermissionDenied
    elif actor.is_doctor:
        if not patient.is_patient or not care_link_is_active(doctor=actor, patient=patient):
            raise ValidationError({"patient": _("You can set reminders only for patients linked to you.")})
    else:
        raise PermissionDenied


@transaction.atomic
def reminder_create(*, actor, patient, text: ReminderText, recurrence: Recurrence) -> Reminder:
    """A patient sets a memo in their own agenda, or a doctor sets one for a linked patient."""
    _check_author(actor, patient)
    text = text.cleaned()
    recurrence = recurrence.validate()
    reminder = Reminder.objects.create(
        patient=patient,
        doctor=actor if actor.is_doctor else None,
        kind=text.kind,
        title=text.title,
        notes=text.notes,
        **_series_fields(recurrence),
    )
    if actor.is_doctor:
        with translation.override(patient.language):
            notify(
                recipient=patient,
                kind=NOTIFICATION_KIND,
                title=pgettext(actor.grammar_context, "%(doctor)s added a reminder to your agenda")
                % {"doctor": actor.display_name},
                url=reverse("reminders:detail", args=[reminder.pk]),
            )
    return reminder


def _locked(reminder: Reminder) -> Reminder:
    return Reminder.objects.select_for_update().get(pk=reminder.pk)


def _check_editor(actor, reminder: Reminder) -> None:
    """Who set a reminder edits or stops it: the patient their own, the doctor theirs (while linked)."""
    if reminder.doctor_id is None:
        if actor.pk != reminder.patient_id:
            raise PermissionDenied
    elif actor.pk == reminder.patient_id:
        raise ValidationError(_("This reminder was set by your doctor: you can mute it, not change it."))
    elif actor.pk != reminder.doctor_id or not care_link_is_active(doctor=actor, patient=reminder.patient):
        raise PermissionDenied
    if not reminder.is_active:
        raise ValidationError(_("This reminder has ended and cannot be changed."))


def is_occurrence(reminder: Reminder, instant: datetime.datetime) -> bool:
    return Series.of(reminder).after(instant - datetime.timedelta(microseconds=1)) == instant


@transaction.atomic
def reminder_edit_from(
    *, actor, reminder: Reminder, occurrence: datetime.datetime | None, text: ReminderText, recurrence: Recurrence
) -> Reminder:
    """Change a series from one occurrence onwards (None: from the next one).

    The occurrences before it stay as they were, with their deliveries: the old series ends
    just before ``occurrence`` and a new one, with the new choices, starts there. From the
    first occurrence onwards the series is simply changed."""
    reminder = _locked(reminder)
    _check_editor(actor, reminder)
    text = text.cleaned()
    recurrence = recurrence.validate()
    now = timezone.now()
    series = Series.of(reminder)
    if occurrence is None:
        occurrence = series.after(now)
    if occurrence is None or not is_occurrence(reminder, occurrence):
        raise ValidationError(_("This occurrence is not part of the reminder any more."))
    if occurrence <= now:
        raise ValidationError(_("A reminder can be changed only from an occurrence still to come."))
    first = series.first()
    if first is None or occurrence <= first:
        for name, value in {
            "kind": text.kind,
            "title": text.title,
            "notes": text.notes,
            **_series_fields(recurrence),
        }.items():
            setattr(reminder, name, value)
        reminder.updated_at = now
        reminder.save()
        return reminder

    if recurrence.start < to_local(occurrence).date():
        raise ValidationError(
            {"start_date": _("From this occurrence onwards, the new start date cannot be earlier than it.")}
        )
    continuation = Reminder.objects.create(
        patient=reminder.patient,
        doctor=reminder.doctor,
        kind=text.kind,
        title=text.title,
        notes=text.notes,
        muted_at=reminder.muted_at,
        **_series_fields(recurrence, not_before=occurrence),
    )
    reminder.ends_before = occurrence
    if reminder.next_fire_at is not None and reminder.next_fire_at >= occurrence:
        reminder.next_fire_at = None
    reminder.continued_by = continuation
    reminder.updated_at = now
    reminder.save()
    return continuation


@transaction.atomic
def reminder_stop(*, actor, reminder: Reminder) -> Reminder:
    """No more occurrences from now on; what was delivered stays."""
    reminder = _locked(reminder)
    _check_editor(actor, reminder)
    now = timezone.now()
    reminder.stopped_at = now
    reminder.stop_reason = StopReason.BY_DOCTOR if actor.pk == reminder.doctor_id else StopReason.BY_PATIENT
    reminder.next_fire_at = None
    if reminder.ends_before is None or reminder.ends_before > now:
        reminder.ends_before = max(now, reminder.starts_at + datetime.timedelta(microseconds=1))
    reminder.save()
    return reminder


@transaction.atomic
def reminder_mute(*, actor, reminder: Reminder, muted: bool) -> Reminder:
    """The patient silences a reminder (their own or a doctor's): it stays in the agenda, no
    notification is sent, and the doctor sees its deliveries as muted."""
    reminder = _locked(reminder)
    if actor.pk != reminder.patient_id:
        raise PermissionDenied
    reminder.muted_at = timezone.now() if muted else None
    reminder.save(update_fields=["muted_at"])
    return reminder


@transaction.atomic
def dose_mark_taken(*, actor, reminder: Reminder, occurrence: datetime.datetime, taken: bool = True) -> bool:
    """Mark a therapy dose as taken (or undo it). Returns whether it is marked now."""
    if actor.pk != reminder.patient_id:
        raise PermissionDenied
    if reminder.kind != ReminderKind.THERAPY:
        raise ValidationError(_("Only therapy doses can be marked as taken."))
    if not is_occurrence(reminder, occurrence):
        raise ValidationError(_("This dose is not part of the therapy."))
    if taken:
        if occurrence > timezone.now() + TAKEN_EARLY_BY:
            raise ValidationError(_("A dose can be marked as taken from two hours before its time."))
        Dose.objects.get_or_create(reminder=reminder, occurrence=occurrence)
        return True
    Dose.objects.filter(reminder=reminder, occurrence=occurrence).delete()
    return False


def _settings_of(user, *, lock: bool = False) -> AgendaSettings:
    AgendaSettings.objects.get_or_create(user=user)
    queryset = AgendaSettings.objects.select_for_update() if lock else AgendaSettings.objects
    return queryset.get(user=user)


def _require_patient(actor) -> None:
    if not actor.is_patient:
        raise PermissionDenied


@transaction.atomic
def agenda_email_set(*, actor, choice: str) -> None:
    """E-mails for reminders: none, a short notice (the platform's notification e-mail, which
    never says what the reminder is about), or the reminder's details, which the patient opts
    into here. The details replace the short notice, so only one e-mail arrives."""
    _require_patient(actor)
    if choice not in EmailChoice.ALL:
        raise ValidationError(_("Choose one of the options."))
    settings = _settings_of(actor, lock=True)
    settings.email_details = choice == EmailChoice.DETAILS
    settings.save(update_fields=["email_details"])
    email_preferences_set(actor=actor, choices={NOTIFICATION_KIND: choice == EmailChoice.SHORT})


def agenda_email_choice(user) -> str:
    settings = AgendaSettings.objects.filter(user=user).first()
    if settings is not None and settings.email_details:
        return EmailChoice.DETAILS
    return EmailChoice.SHORT if notification_selectors.email_wanted(user, NOTIFICATION_KIND) else EmailChoice.NONE


@transaction.atomic
def feed_token_create(*, actor) -> str:
    """A new secret address for the calendar feed; the previous one stops working at once."""
    _require_patient(actor)
    settings = _settings_of(actor, lock=True)
    settings.feed_token = secrets.token_urlsafe(32)
    settings.feed_created_at = timezone.now()
    settings.save(update_fields=["feed_token", "feed_created_at"])
    return settings.feed_token


@transaction.atomic
def feed_details_set(*, actor, details: bool) -> None:
    """Whether the feed shows titles and notes: the phone's calendar and its provider will read them."""
    _require_patient(actor)
    settings = _settings_of(actor, lock=True)
    settings.feed_details = bool(details)
    settings.save(update_fields=["feed_details"])


@transaction.atomic
def feed_token_revoke(*, actor) -> None:
    _require_patient(actor)
    settings = _settings_of(actor, lock=True)
    settings.feed_token = None
    settings.feed_created_at = None
    settings.save(update_fields=["feed_token", "feed_created_at"])


@transaction.atomic
def reminders_erase_of_patient(*, patient) -> int:
    """Delete the patient's agenda: every series (whoever set it, with its deliveries and doses)
    and its settings (the calendar feed's token too). Their account is being erased; returns how
    many series went, none when run again."""
    _total, by_model = Reminder.objects.filter(patient=patient).delete()
    AgendaSettings.objects.filter(user=patient).delete()
    return by_model.get(Reminder._meta.label, 0)
