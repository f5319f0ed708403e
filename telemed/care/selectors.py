"""Who may reach whom. Every doctor-initiated contact in every app asks here first."""

from django.db.models import Q, QuerySet
from django.http import Http404

from telemed.care.models import OPEN_STATUSES, CareLink, LinkStatus


def care_link_is_active(*, doctor, patient) -> bool:
    if doctor is None or patient is None:
        return False
    return CareLink.objects.filter(doctor=doctor, patient=patient, status=LinkStatus.ACTIVE).exists()


def linked_patients(doctor) -> QuerySet:
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(care_links_as_patient__doctor=doctor, care_links_as_patient__status=LinkStatus.ACTIVE)
        .order_by("last_name", "first_name")
    )


def linked_doctors(patient) -> QuerySet:
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(care_links_as_doctor__patient=patient, care_links_as_doctor__status=LinkStatus.ACTIVE)
        .order_by("last_name", "first_name")
    )


def links_of(user) -> QuerySet[CareLink]:
    """The links a user sees on their page: their own, open or ended."""
    return CareLink.objects.filter(Q(doctor=user) | Q(patient=user)).select_related("doctor", "patient")


def link_get_for_user(user, link_id: int) -> CareLink:
    link = links_of(user).filter(pk=link_id).first()
    if link is None:
        raise Http404
    return link


def open_link_between(*, doctor, patient) -> CareLink | None:
    return CareLink.objects.filter(doctor=doctor, patient=patient, status__in=OPEN_STATUSES).first()


def invitation_by_token(token: str) -> CareLink:
    link = CareLink.objects.select_related("doctor").filter(token=token, status=LinkStatus.INVITED).first()
    if link is None:
        raise Http404
    return link


def doctor_to_link(doctor_id: int):
    """A doctor a patient may ask to be linked to (any active doctor of the directory)."""
    from django.contrib.auth import get_user_model

    doctor = get_user_model().objects.filter(pk=doctor_id, role="doctor", is_active=True).first()
    if doctor is None:
        raise Http404
    return doctor
