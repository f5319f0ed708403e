"""Reads of reports, already scoped to what the asking user may see."""

from django.db.models import QuerySet
from django.http import Http404

from telemed.care.selectors import linked_patients
from telemed.reports.models import Report, ReportStatus


def _visible(user) -> QuerySet[Report]:
    """A doctor sees what they wrote (not the discarded drafts); a patient sees what was signed for them."""
    queryset = Report.objects.select_related("doctor", "patient", "signature", "replaces")
    if getattr(user, "is_doctor", False):
        return queryset.filter(doctor=user).exclude(status=ReportStatus.DISCARDED)
    if getattr(user, "is_patient", False):
        return queryset.filter(patient=user, status=ReportStatus.SIGNED)
    return queryset.none()


def report_list_for_user(user) -> QuerySet[Report]:
    return _visible(user).order_by("-created_at")


def drafts_of(doctor) -> QuerySet[Report]:
    return _visible(doctor).filter(status=ReportStatus.DRAFT).order_by("-updated_at")


def signed_for_user(user) -> QuerySet[Report]:
    return _visible(user).filter(status=ReportStatus.SIGNED).order_by("-signed_at")


def report_get_for_user(user, public_id) -> Report:
    report = _visible(user).prefetch_related("therapy").filter(public_id=public_id).first()
    if report is None:
        raise Http404
    return report


def report_history(report: Report) -> list[Report]:
    """Every version of the document, oldest first (a correction replaces the one before)."""
    versions = [report]
    current = report
    while current.replaces_id is not None:
        current = Report.objects.select_related("signature").get(pk=current.replaces_id)
        versions.insert(0, current)
    current = report
    while (newer := Report.objects.select_related("signature").filter(replaces=current).first()) is not None:
        if newer.status == ReportStatus.DISCARDED:
            break
        versions.append(newer)
        current = newer
    return versions


def correction_of(report: Report) -> Report | None:
    return Report.objects.filter(replaces=report).exclude(status=ReportStatus.DISCARDED).first()


def patients_to_write_for(doctor) -> QuerySet:
    return linked_patients(doctor)
