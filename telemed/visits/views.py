"""Pages of video visits: thin, they parse, call a service or a selector, and render."""

import datetime
import itertools
import json

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from telemed.accounts.selectors import doctor_public_profile
from telemed.accounts.views import add_service_errors
from telemed.reports import forms as report_forms
from telemed.visits import availability, ice, reporting, rooms, selectors, services, slots
from telemed.visits.forms import (
    AgendaForm,
    BookForm,
    ExceptionForm,
    ProposalForm,
    ReplyForm,
    RescheduleForm,
    RuleForm,
    SignForm,
    VisitReportForm,
)


def _by_day(free: list[slots.Slot]) -> list[tuple]:
    return [
        (day, list(group))
        for day, group in itertools.groupby(free, key=lambda s: s.start.astimezone(slots.ROME).date())
    ]


def _preview_length(doctor, agenda) -> int:
    lengths = services.visit_lengths(doctor)
    return agenda.slot_minutes if agenda.slot_minutes in lengths or not lengths else lengths[0]


@login_required
def agenda(request: HttpRequest) -> HttpResponse:
    """The doctor's agenda settings: length, horizon, notice, weekly availability and absences."""
    if not request.user.is_doctor:
        raise PermissionDenied
    agenda = availability.agenda_of(request.user)
    which = request.POST.get("form") if request.method == "POST" else None
    settings_form = AgendaForm(
        request.POST if which == "settings" else None,
        initial={f: getattr(agenda, f) for f in AgendaForm.base_fields},
    )
    rule_form = RuleForm(request.POST if which == "rule" else None)
    exception_form = ExceptionForm(request.POST if which == "exception" else None)
    try:
        if which == "settings" and settings_form.is_valid():
            availability.agenda_update(actor=request.user, **settings_form.cleaned_data)
            flash.success(request, _("Agenda saved."))
            return redirect("visits:agenda")
        if which == "rule" and rule_form.is_valid():
            availability.availability_rule_add(actor=request.user, **rule_form.cleaned_data)
            flash.success(request, _("Availability added."))
            return redirect("visits:agenda")
        if which == "exception" and exception_form.is_valid():
            availability.agenda_exception_add(actor=request.user, **exception_form.cleaned_data)
            flash.success(request, _("Absence added."))
            return redirect("visits:agenda")
        if which == "holiday":
            try:
                day = datetime.date.fromisoformat(request.POST.get("day", ""))
            except ValueError:
                raise ValidationError(_("Unknown request.")) from None
            if request.POST.get("open") == "1":
                availability.agenda_holiday_open(actor=request.user, day=day)
                flash.success(request, _("Patients can book visits on %(day)s.") % {"day": date_format(day, "l d/m/Y")})
            else:
                availability.agenda_holiday_close(actor=request.user, day=day)
                flash.success(request, _("No visits on %(day)s.") % {"day": date_format(day, "l d/m/Y")})
            return redirect("visits:agenda")
        if which in ("remove_rule", "remove_exception"):
            remove = (
                availability.availability_rule_remove
                if which == "remove_rule"
                else availability.agenda_exception_remove
            )
            key = "rule_id" if which == "remove_rule" else "exception_id"
            try:
                object_id = int(request.POST.get("id", ""))
            except ValueError:
                raise ValidationError(_("Unknown request.")) from None
            remove(actor=request.user, **{key: object_id})
            flash.success(request, _("Removed."))
            return redirect("visits:agenda")
    except ValidationError as error:
        form = {"settings": settings_form, "rule": rule_form, "exception": exception_form}.get(which)
        if form is not None:
            add_service_errors(form, error)
        else:
            for message in error.messages:
                flash.error(request, message)
    context = {
        "agenda": agenda,
        "settings_form": settings_form,
        "rule_form": rule_form,
        "exception_form": exception_form,
        "preview": _by_day(slots.free_slots(agenda, days=7, minutes=_preview_length(request.user, agenda))),
        "priced_lengths": services.visit_lengths(request.user),
        "holidays": selectors.holidays_ahead(agenda, language=translation.get_language() or "it"),
        "upcoming": selectors.upcoming_bookings_of(request.user),
    }
    return render(request, "visits/agenda.html", context, status=400 if request.method == "POST" else 200)


@login_required
def book(request: HttpRequest, slug: str) -> HttpResponse:
    """A patient books a free slot of a doctor, after seeing the cost, or proposes another date."""
    doctor = doctor_public_profile(slug).user
    if not request.user.is_patient:
        flash.info(request, _("Only patients can book video visits."))
        return redirect("directory:profile", slug=slug)
    lengths = services.visit_lengths(doctor)
    asked = (request.POST if request.method == "POST" else request.GET).get("minutes", "")
    try:
        minutes = services.visit_length(doctor, int(asked) if asked.isdigit() and int(asked) in lengths else None)
        breakdown = services.visit_quote(doctor=doctor, minutes=minutes)
    except ValidationError as error:
        return render(request, "visits/book.html", {"doctor": doctor, "unavailable": error.messages}, status=200)
    choices = [(length, services.visit_quote(doctor=doctor, minutes=length).patient_total) for length in lengths]
    which = request.POST.get("form") if request.method == "POST" else None
    book_form = BookForm(request.POST if which == "book" else None, initial={"accepted_total": breakdown.patient_total})
    proposal_form = ProposalForm(
        request.POST if which == "propose" else None, initial={"accepted_total": breakdown.patient_total}
    )
    try:
        if which == "book" and book_form.is_valid():
            start = slots.parse_slot_key(book_form.cleaned_data["slot"])
            if start is None:
                raise ValidationError(_("Choose one of the free slots."))
            booking = services.booking_create(
                actor=request.user, doctor=doctor, start=start, accepted_total=book_form.cleaned_data["accepted_total"],
                minutes=minutes,
            )  # fmt: skip
            flash.success(request, _("Your video visit is booked. A confirmation is on its way by e-mail."))
            return redirect("visits:booking", booking_id=booking.pk)
        if which == "propose" and proposal_form.is_valid():
            proposal = services.proposal_create(
                actor=request.user,
                doctor=doctor,
                start=proposal_form.start(),
                message=proposal_form.cleaned_data["message"],
                accepted_total=proposal_form.cleaned_data["accepted_total"],
                minutes=minutes,
            )
            flash.success(request, _("Your request was sent to the doctor."))
            return redirect("visits:proposal", proposal_id=proposal.pk)
        if which == "book" and not book_form.is_valid():
            book_form.add_error(None, _("Choose one of the free slots."))
    except ValidationError as error:
        add_service_errors(book_form if which == "book" else proposal_form, error)
    context = {
        "doctor": doctor,
        "breakdown": breakdown,
        "days": _by_day(slots.free_slots(availability.agenda_of(doctor), minutes=minutes)),
        "minutes": minutes,
        "length_choices": choices,
        "book_form": book_form,
        "proposal_form": proposal_form,
    }
    return render(request, "visits/book.html", context, status=400 if request.method == "POST" else 200)


@login_required
def visit_list(request: HttpRequest) -> HttpResponse:
    context = {
        "upcoming": selectors.upcoming_bookings_of(request.user),
        "past": selectors.past_bookings_of(request.user)[:50],
        "proposals": selectors.proposals_of(request.user)[:50],
    }
    return render(request, "visits/list.html", context)


@login_required
def booking(request: HttpRequest, booking_id: int) -> HttpResponse:
    booking = selectors.booking_get_for_user(request.user, booking_id)
    reschedule_form = RescheduleForm(request.POST if request.POST.get("form") == "reschedule" else None)
    if request.method == "POST":
        try:
            if request.POST.get("form") == "cancel":
                services.booking_cancel(actor=request.user, booking=booking)
                flash.success(request, _("The visit was cancelled."))
                return redirect("visits:booking", booking_id=booking.pk)
            if reschedule_form.is_valid():
                start = slots.parse_slot_key(reschedule_form.cleaned_data["slot"])
                if start is None:
                    raise ValidationError(_("Choose one of the free slots."))
                services.booking_reschedule(actor=request.user, booking=booking, start=start)
                flash.success(request, _("The visit was moved."))
                return redirect("visits:booking", booking_id=booking.pk)
            raise ValidationError(_("Unknown request."))
        except (ValidationError, PermissionDenied) as error:
            messages = (
                error.messages if isinstance(error, ValidationError) else [_("You cannot do this on this visit.")]
            )
            for message in messages:
                flash.error(request, message)
            booking = selectors.booking_get_for_user(request.user, booking_id)
    context = {
        "booking": booking,
        "room_open": selectors.room_is_open(booking),
        "charge": selectors.booking_charge(booking) if request.user.pk == booking.patient_id else None,
        "free": _by_day(
            slots.free_slots(availability.agenda_of(booking.doctor), days=14, minutes=booking.duration_minutes)
        )
        if request.user.pk == booking.patient_id and booking.status == "booked"
        else [],
    }
    return render(request, "visits/booking.html", context, status=400 if request.method == "POST" else 200)


@login_required
def proposal(request: HttpRequest, proposal_id: int) -> HttpResponse:
    proposal = selectors.proposal_get_for_user(request.user, proposal_id)
    form = ReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            proposal = services.proposal_reply(
                actor=request.user,
                proposal=proposal,
                action=form.cleaned_data["action"],
                start=form.start(),
                message=form.cleaned_data["message"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PermissionDenied:
            form.add_error(None, _("You cannot do this on this request."))
        else:
            flash.success(request, _("Your answer was sent."))
            if proposal.booking_id:
                return redirect("visits:booking", booking_id=proposal.booking_id)
            return redirect("visits:proposal", proposal_id=proposal.pk)
    proposal = selectors.proposal_get_for_user(request.user, proposal_id)
    turn = (
        proposal.doctor_id
        if proposal.status == "waiting_doctor"
        else proposal.patient_id
        if proposal.status == "waiting_patient"
        else None
    )
    context = {
        "proposal": proposal,
        "steps": proposal.steps.select_related("author"),
        "form": form,
        "my_turn": turn == request.user.pk,
        "waiting_for_other": turn is not None and turn != request.user.pk,
        "can_withdraw": turn is not None and request.user.pk == proposal.patient_id,
    }
    return render(request, "visits/proposal.html", context, status=400 if request.method == "POST" else 200)


@login_required
def room(request: HttpRequest, booking_id: int) -> HttpResponse:
    """The live room: device check, waiting, video, chat; the doctor's notes beside."""
    try:
        booking = selectors.room_get_for_user(request.user, booking_id)
    except selectors.RoomClosed as closed:
        booking = selectors.booking_get_for_user(request.user, booking_id)
        return render(request, "visits/room_closed.html", {"booking": booking, "reason": closed.messages}, status=403)
    context = {
        "booking": booking,
        "is_doctor": request.user.pk == booking.doctor_id,
        "chat": selectors.room_messages(booking),
        "ice_servers_json": json.dumps(ice.ice_servers_for(request.user)),
    }
    return render(request, "visits/room.html", context)


def _therapy_formset(data, draft):
    """The prescription lines of the visit's report: as saved, plus empty rows to fill."""
    if data is not None:
        return report_forms.TherapyFormSet(data, prefix="therapy")
    rows = [
        {"drug": i.drug, "dose": i.dose, "schedule": i.schedule, "duration": i.duration} for i in draft.therapy.all()
    ] if draft else []  # fmt: skip
    rows += [{}] * max(report_forms.THERAPY_ROWS - len(rows), 1)
    return report_forms.TherapyFormSet(initial=rows, prefix="therapy")


@login_required
def report(request: HttpRequest, booking_id: int) -> HttpResponse:
    """The doctor writes the visit's report (with the telemedicine record) and signs it."""
    booking = selectors.booking_get_for_user(request.user, booking_id)
    if request.user.pk != booking.doctor_id:
        raise PermissionDenied
    draft = booking.report
    initial = (
        {"diagnosis": draft.diagnosis, "findings": draft.findings, "statement": booking.statement} if draft else {}
    )
    which = request.POST.get("form") if request.method == "POST" else None
    form = VisitReportForm(request.POST if which == "save" else None, initial=initial)
    therapy = _therapy_formset(request.POST if which == "save" else None, draft)
    sign_form = SignForm(request.POST if which == "sign" else None)
    try:
        if which == "save" and form.is_valid() and therapy.is_valid():
            lines = report_forms.therapy_lines(therapy)
            reporting.visit_report_save(actor=request.user, booking=booking, therapy=lines, **form.cleaned_data)
            flash.success(request, _("Report saved."))
            return redirect("visits:report", booking_id=booking.pk)
        if which == "sign" and sign_form.is_valid():
            reporting.visit_report_sign(actor=request.user, booking=booking, code=sign_form.cleaned_data["code"])
            flash.success(request, _("The report is signed and delivered to the patient."))
            return redirect("visits:booking", booking_id=booking.pk)
    except ValidationError as error:
        add_service_errors(form if which == "save" else sign_form, error)
    booking = selectors.booking_get_for_user(request.user, booking_id)
    context = {
        "booking": booking,
        "form": form,
        "sign_form": sign_form,
        "therapy": therapy,
        "record": reporting.visit_record_text(booking),
    }
    return render(request, "visits/report.html", context, status=400 if request.method == "POST" else 200)


@login_required
@require_POST
def room_file(request: HttpRequest, booking_id: int) -> JsonResponse:
    """A file sent from the room's chat (the patient's): answers JSON for the page's script."""
    booking = selectors.booking_get_for_user(request.user, booking_id)
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": _("Choose a file to send.")}, status=400)
    try:
        rooms.room_file_send(actor=request.user, booking=booking, name=upload.name, stream=upload, size=upload.size)
    except ValidationError as error:
        return JsonResponse({"error": " ".join(error.messages)}, status=400)
    except PermissionDenied:
        return JsonResponse({"error": _("Only the patient sends files in the room.")}, status=403)
    return JsonResponse({"ok": True})
