"""Pages of the health agenda: parse, call a service or a selector, render."""

import datetime
from itertools import groupby

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from telemed.care.selectors import linked_patients
from telemed.lib.redirects import next_path
from telemed.notifications.services import notification_mark_read_for_url
from telemed.reminders import calendar_feed, selectors, services
from telemed.reminders.forms import EmailChoiceForm, ReminderForm
from telemed.reminders.recurrence import EndMode, Recurrence
from telemed.reminders.schedule import ROME, UTC, Series, local_midnight, to_local

UPCOMING = 6


def _day(text: str | None) -> datetime.date | None:
    try:
        day = datetime.date.fromisoformat((text or "")[:10])
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2100 else None


def _instant(text: str | None) -> datetime.datetime | None:
    """An occurrence in a URL: seconds since the epoch (no time-zone text to mangle)."""
    try:
        seconds = int(text or "")
    except ValueError:
        return None
    if not 946_684_800 <= seconds <= 4_102_444_800:  # 2000–2100
        return None
    return datetime.datetime.fromtimestamp(seconds, UTC)


def _require_patient(user) -> None:
    if not user.is_patient:
        raise PermissionDenied


def _describe(reminder) -> str:
    return Recurrence.of(reminder).describe()


@login_required
def agenda(request: HttpRequest) -> HttpResponse:
    """The week (default) or month around ?date=, with every occurrence and its state."""
    user = request.user
    if user.is_doctor:
        return redirect("reminders:patients")
    _require_patient(user)
    view = "month" if request.GET.get("view") == "month" else "week"
    today = timezone.localdate()
    day = _day(request.GET.get("date")) or today
    if view == "week":
        first = day - datetime.timedelta(days=day.weekday())
        end = first + datetime.timedelta(days=7)
        previous, following = first - datetime.timedelta(days=7), end
        month_start = None
    else:
        month_start = day.replace(day=1)
        month_end = (month_start + datetime.timedelta(days=32)).replace(day=1)
        first = month_start - datetime.timedelta(days=month_start.weekday())
        end = month_end + datetime.timedelta(days=(7 - month_end.weekday()) % 7)
        previous, following = (month_start - datetime.timedelta(days=1)).replace(day=1), month_end
    occurrences = selectors.agenda_occurrences(user, local_midnight(first), local_midnight(end))
    by_day = {key: list(group) for key, group in groupby(occurrences, key=lambda o: o.local.date())}
    days = []
    current = first
    while current < end:
        days.append(
            {
                "date": current,
                "occurrences": by_day.get(current, []),
                "today": current == today,
                "outside": month_start is not None and current.month != month_start.month,
            }
        )
        current += datetime.timedelta(days=1)
    notification_mark_read_for_url(actor=user, url=request.get_full_path())
    reminders = list(selectors.reminders_in_agenda(user))
    return render(
        request,
        "reminders/agenda.html",
        {
            "view": view,
            "day": day,
            "first": first,
            "last": end - datetime.timedelta(days=1),
            "month_start": month_start,
            "days": days,
            "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
            "previous": previous,
            "following": following,
            "today": today,
            "reminders": [{"reminder": r, "description": _describe(r)} for r in reminders],
            "here": request.get_full_path(),
        },
    )


def _form_page(request, form, *, reminder=None, occurrence=None, patient=None) -> HttpResponse:
    return render(
        request,
        "reminders/form.html",
        {
            "form": form,
            "reminder": reminder,
            "occurrence": occurrence,
            "patient": patient,
            "is_doctor": request.user.is_doctor,
        },
    )


@login_required
def create(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not (user.is_patient or user.is_doctor):
        raise PermissionDenied
    patients = linked_patients(user) if user.is_doctor else None
    if request.method == "POST":
        form = ReminderForm(request.POST, patients=patients)
        if form.is_valid():
            patient = form.cleaned_data["patient"] if user.is_doctor else user
            try:
                reminder = services.reminder_create(
                    actor=user, patient=patient, text=form.text(), recurrence=form.recurrence()
                )
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, _("Reminder saved: %(description)s.") % {"description": _describe(reminder)})
                return redirect("reminders:detail", reminder.pk)
    else:
        initial = {"start_date": timezone.localdate(), "kind": request.GET.get("kind") or "therapy"}
        if user.is_doctor and request.GET.get("patient", "").isdigit():
            initial["patient"] = selectors.patient_for_doctor(user, int(request.GET["patient"]))
        form = ReminderForm(initial=initial, patients=patients)
    return _form_page(request, form)


def _upcoming(reminder, count: int = UPCOMING) -> list[datetime.datetime]:
    series, found = Series.of(reminder), []
    at = series.after(timezone.now())
    while at is not None and len(found) < count:
        found.append(at)
        at = series.after(at, anchor=to_local(at).date())
    return found


@login_required
def detail(request: HttpRequest, reminder_id: int) -> HttpResponse:
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    user = request.user
    is_patient = reminder.patient_id == user.pk
    notification_mark_read_for_url(actor=user, url=request.get_full_path())
    return render(
        request,
        "reminders/detail.html",
        {
            "reminder": reminder,
            "description": _describe(reminder),
            "warnings": Recurrence.of(reminder).warnings() if reminder.is_active else [],
            "upcoming": [{"at": at.astimezone(ROME), "epoch": int(at.timestamp())} for at in _upcoming(reminder)]
            if reminder.is_active
            else [],
            "deliveries": selectors.deliveries_of(reminder),
            "is_patient": is_patient,
            "can_edit": reminder.is_active and (reminder.doctor_id == user.pk if reminder.doctor_id else is_patient),
        },
    )


@login_required
def edit(request: HttpRequest, reminder_id: int) -> HttpResponse:
    """Change the series from one occurrence onwards (?from=, default: the next one)."""
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    if reminder.doctor_id is not None and reminder.patient_id == request.user.pk:
        messages.error(request, _("This reminder was set by your doctor: you can mute it, not change it."))
        return redirect("reminders:detail", reminder.pk)
    series = Series.of(reminder)
    occurrence = _instant(request.GET.get("from")) or series.after(timezone.now())
    if occurrence is None:
        messages.error(request, _("This reminder has no occurrence left to change."))
        return redirect("reminders:detail", reminder.pk)
    if request.method == "POST":
        form = ReminderForm(request.POST)
        if form.is_valid():
            try:
                changed = services.reminder_edit_from(
                    actor=request.user,
                    reminder=reminder,
                    occurrence=occurrence,
                    text=form.text(),
                    recurrence=form.recurrence(),
                )
            except ValidationError as error:
                form.add_service_error(error)
            else:
                messages.success(request, _("Reminder changed: %(description)s.") % {"description": _describe(changed)})
                return redirect("reminders:detail", changed.pk)
    else:
        recurrence = Recurrence.of(reminder)
        initial = ReminderForm.initial_from(recurrence, kind=reminder.kind, title=reminder.title, notes=reminder.notes)
        first = series.first()
        if first is not None and occurrence > first:
            # A new series starts at this occurrence: same end as before, said as a date.
            initial["start_date"] = to_local(occurrence).date()
            if recurrence.count and reminder.ends_before is not None:
                initial["end"] = EndMode.UNTIL
                initial["until"] = to_local(reminder.ends_before - datetime.timedelta(microseconds=1)).date()
        form = ReminderForm(initial=initial)
    return _form_page(request, form, reminder=reminder, occurrence=occurrence.astimezone(ROME))


def _run(request, action, success: str, default_next: str) -> HttpResponse:
    try:
        action()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, success)
    return redirect(next_path(request, default_next))


@login_required
@require_POST
def stop(request: HttpRequest, reminder_id: int) -> HttpResponse:
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    return _run(
        request,
        lambda: services.reminder_stop(actor=request.user, reminder=reminder),
        _("The reminder is stopped: nothing more will be sent."),
        reverse("reminders:detail", args=[reminder.pk]),
    )


@login_required
@require_POST
def mute(request: HttpRequest, reminder_id: int) -> HttpResponse:
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    muted = request.POST.get("muted") == "1"
    return _run(
        request,
        lambda: services.reminder_mute(actor=request.user, reminder=reminder, muted=muted),
        _("Muted: it stays in your agenda, without notifications.") if muted else _("Notifications are back on."),
        reverse("reminders:detail", args=[reminder.pk]),
    )


@login_required
@require_POST
def take(request: HttpRequest, reminder_id: int) -> HttpResponse:
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    occurrence = _instant(request.POST.get("occurrence"))
    taken = request.POST.get("taken", "1") == "1"
    default_next = reverse("reminders:agenda")
    if occurrence is None:
        messages.error(request, _("This dose is not part of the therapy."))
        return redirect(next_path(request, default_next))
    return _run(
        request,
        lambda: services.dose_mark_taken(actor=request.user, reminder=reminder, occurrence=occurrence, taken=taken),
        _("Marked as taken.") if taken else _("No longer marked as taken."),
        default_next,
    )


def _calendar_response(content: bytes, filename: str, *, attachment: bool) -> HttpResponse:
    response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
    if attachment:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response


@login_required
def ics(request: HttpRequest, reminder_id: int) -> HttpResponse:
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    return _calendar_response(
        calendar_feed.single(reminder, now=timezone.now()), f"reminder-{reminder.pk}.ics", attachment=True
    )


@never_cache
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The patient's personal calendar feed, opened by its secret address alone (calendar apps
    cannot log in). A wrong or revoked address is a 404, like any page that does not exist."""
    patient, agenda_settings = selectors.patient_by_feed_token(token)
    # A calendar app asks in no particular language: the feed speaks the patient's.
    with translation.override(patient.language):
        content = calendar_feed.feed(
            selectors.reminders_for_feed(patient), details=agenda_settings.feed_details, now=timezone.now()
        )
    return _calendar_response(content, "telemed.ics", attachment=False)


@login_required
def agenda_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    _require_patient(user)
    current = selectors.agenda_settings_of(user)
    feed_url = settings.BASE_URL + reverse("reminders:feed", args=[current.feed_token]) if current.feed_token else ""
    return render(
        request,
        "reminders/settings.html",
        {
            "email_form": EmailChoiceForm(initial={"email": services.agenda_email_choice(user)}),
            "agenda_settings": current,
            "feed_url": feed_url,
            "webcal_url": feed_url.replace("https://", "webcal://").replace("http://", "webcal://"),
        },
    )


@login_required
@require_POST
def agenda_email(request: HttpRequest) -> HttpResponse:
    _require_patient(request.user)
    form = EmailChoiceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the options."))
        return redirect("reminders:settings")
    return _run(
        request,
        lambda: services.agenda_email_set(actor=request.user, choice=form.cleaned_data["email"]),
        _("Your choice is saved."),
        reverse("reminders:settings"),
    )


@login_required
@require_POST
def feed_create(request: HttpRequest) -> HttpResponse:
    _require_patient(request.user)
    return _run(
        request,
        lambda: services.feed_token_create(actor=request.user),
        _("Your calendar has a new secret address. Any previous one no longer works."),
        reverse("reminders:settings"),
    )


@login_required
@require_POST
def feed_revoke(request: HttpRequest) -> HttpResponse:
    _require_patient(request.user)
    return _run(
        request,
        lambda: services.feed_token_revoke(actor=request.user),
        _("The secret address no longer works."),
        reverse("reminders:settings"),
    )


@login_required
@require_POST
def feed_details(request: HttpRequest) -> HttpResponse:
    _require_patient(request.user)
    return _run(
        request,
        lambda: services.feed_details_set(actor=request.user, details=request.POST.get("details") == "1"),
        _("Your choice is saved."),
        reverse("reminders:settings"),
    )


@login_required
def patients(request: HttpRequest) -> HttpResponse:
    """A doctor's reminders for their patients: what was set, what was delivered, doses taken."""
    user = request.user
    if not user.is_doctor:
        raise Http404
    reminders = list(selectors.reminders_set_by(user))
    groups = [
        {"patient": patient, "reminders": [{"reminder": r, "description": _describe(r)} for r in items]}
        for patient, items in groupby(reminders, key=lambda r: r.patient)
    ]
    return render(request, "reminders/patients.html", {"groups": groups, "patients": linked_patients(user)})
