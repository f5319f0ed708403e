"""The visit's report: written in the room, signed with the doctor's code (by the reports app),
delivered to the patient's Welbox, and billable for 'Emetti fattura' from then on."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.billing import pricing
from telemed.lib import formatting
from telemed.notifications.services import notify
from telemed.visits import slots
from telemed.visits.models import Booking, BookingStatus
from telemed.visits.rooms import visit_end
from telemed.visits.services import booking_locked, booking_transition, booking_url


def _engagement(booking: Booking) -> str:
    return f"visit:{booking.pk}"


def _call_minutes(booking: Booking) -> int:
    if booking.admitted_at is None:
        return 0
    end = booking.ended_at or timezone.now()
    return max(1, round((end - booking.admitted_at).total_seconds() / 60))


def visit_record_text(booking: Booking) -> str:
    """What the national telemedicine guidelines ask a televisit report to record: who took part,
    how long the call lasted, the connection quality measured during it, and the doctor's
    statement on the adequacy of the remote examination."""
    from telemed.visits.models import ExamStatement

    lines = [
        _("Video visit (telemedicine) of %(when)s.")
        % {"when": timezone.localtime(booking.start, slots.ROME).strftime("%d/%m/%Y %H:%M")},
        _("Participants: %(doctor)s (doctor), %(patient)s (patient).")
        % {"doctor": booking.doctor.display_name, "patient": booking.patient.get_full_name()},
        _("Duration of the call: %(duration)s.") % {"duration": formatting.minutes(_call_minutes(booking))},
    ]
    for side, label in (("doctor", _("doctor's side")), ("patient", _("patient's side"))):
        summary = (booking.quality or {}).get(side)
        if not summary or not summary.get("samples"):
            lines.append(_("Connection quality (%(side)s): not measured.") % {"side": label})
            continue
        lines.append(
            _(
                "Connection quality (%(side)s): round-trip time %(rtt_avg)s ms on average (%(rtt_max)s ms at most), "
                "packet loss up to %(loss)s%%, video received at %(width)s×%(height)s."
            )
            % {
                "side": label,
                "rtt_avg": round(summary["rtt_sum"] / summary["samples"]),
                "rtt_max": round(summary["rtt_max"]),
                "loss": round(summary["loss_max"] * 100, 1),
                "width": summary.get("width", 0),
                "height": summary.get("height", 0),
            }
        )
    if booking.statement:
        lines.append(str(ExamStatement(booking.statement).label) + ".")
    return "\n".join(lines)


def _doctor_booking(actor, booking: Booking, *, lock: bool = True) -> Booking:
    booking = (
        booking_locked(booking) if lock else Booking.objects.select_related("doctor", "patient").get(pk=booking.pk)
    )
    if actor.pk != booking.doctor_id:
        raise PermissionDenied
    return booking


@transaction.atomic
def visit_report_save(*, actor, booking: Booking, diagnosis: str, findings: str, statement: str, therapy=()):
    """The doctor's report draft for this visit (created on first save) and their statement; the
    report carries the prescribed therapy (``therapy``: reports' TherapyLine), as a consult's does."""
    from telemed.reports import services as reports
    from telemed.visits.models import ExamStatement

    booking = _doctor_booking(actor, booking)
    if booking.status not in (BookingStatus.IN_PROGRESS, BookingStatus.ENDED):
        raise ValidationError(_("The report is written once the call has started, until it is delivered."))
    if statement and statement not in ExamStatement.values:
        raise ValidationError({"statement": _("Choose whether the remote examination was adequate.")})
    content = reports.ReportContent(
        diagnosis=diagnosis or "", findings=findings or "", notes=visit_record_text(booking), therapy=tuple(therapy)
    )
    if booking.report is None:
        booking.report = reports.report_create(
            actor=actor, patient=booking.patient, kind="report", content=content, engagement=_engagement(booking)
        )
    else:
        reports.report_update(actor=actor, report=booking.report, content=content)
    booking.statement = statement or ""
    booking.save(update_fields=["report", "statement"])
    return booking.report


def visit_report_sign(*, actor, booking: Booking, code: str) -> Booking:
    """Sign the visit's report with the doctor's code: it is delivered to the patient's Welbox (by
    the reports app), the visit is delivered and becomes billable for 'Emetti fattura'."""
    from telemed.reports import services as reports

    booking = _doctor_booking(actor, booking, lock=False)
    if booking.status == BookingStatus.DELIVERED:
        raise ValidationError(_("This visit's report is already signed and delivered."))
    report = booking.report
    if report is None:
        raise ValidationError(_("Write the report before signing it."))
    if not booking.statement:
        raise ValidationError(
            _("State whether the remote examination was adequate or an in-person visit is needed, then sign.")
        )
    if booking.admitted_at is None:
        raise ValidationError(_("The call did not take place: there is nothing to report."))
    if report.is_draft:
        if booking.status == BookingStatus.IN_PROGRESS:
            visit_end(actor=actor, booking=booking)
            booking.refresh_from_db()
        # The record (duration, quality, statement) as it is at the moment of signing.
        content = reports.content_of(report)
        reports.report_update(
            actor=actor,
            report=report,
            content=reports.ReportContent(
                diagnosis=content.diagnosis, findings=content.findings, notes=visit_record_text(booking),
                therapy=content.therapy, nre=content.nre, nre_pin=content.nre_pin,
            ),
        )  # fmt: skip
        report.refresh_from_db()
        reports.report_sign(actor=actor, report=report, code=code, engagement=_engagement(booking))
    return _visit_deliver(actor=actor, booking=booking)


@transaction.atomic
def _visit_deliver(*, actor, booking: Booking) -> Booking:
    from telemed.billing.proformas import billable_service_register

    booking = _doctor_booking(actor, booking)
    if booking.status == BookingStatus.IN_PROGRESS:
        booking_transition(booking, BookingStatus.ENDED)
        booking.ended_at = timezone.now()
    booking_transition(booking, BookingStatus.DELIVERED)
    booking.delivered_at = timezone.now()
    booking.save(update_fields=["status", "ended_at", "delivered_at"])
    billable_service_register(
        doctor=booking.doctor.doctor_profile,
        patient=booking.patient,
        kind="video",
        duration_minutes=booking.duration_minutes,
        breakdown=pricing.Breakdown.from_dict(booking.breakdown),
        accepted_at=booking.accepted_at,
        source_label=_("Video visit of %(when)s")
        % {"when": timezone.localtime(booking.start, slots.ROME).strftime("%d/%m/%Y %H:%M")},
        source_url=booking_url(booking),
        source_key=_engagement(booking),
        delivered_at=booking.delivered_at,
    )
    notify(
        recipient=booking.patient,
        kind="visit_report",
        title=_("The report of your video visit is in your Welbox"),
        url=booking_url(booking),
    )
    return booking
