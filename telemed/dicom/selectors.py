"""Reads of the DICOM app, already scoped to what the asking user may see.

A study is readable by the owner of the box it is in, by a doctor its owner shared it with
(a patient from the Welbox, a colleague from the Medbox through Intramed; until revoked),
and by a doctor the study's Welbox folder is shared with, unless the patient hid the study
(oscuramento: then no doctor lists it, opens it, nor reads one of its images) or withdrew the
consent to the shared clinical space (accounts.consents). A missing or
forbidden study, series, image or import is the same 404.
"""

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404

from telemed.accounts.consents import patients_with_shared_space
from telemed.accounts.models import User
from telemed.boxes import selectors as box_selectors
from telemed.boxes.models import BoxKind
from telemed.dicom.models import CdImport, ImportSkip, Instance, Series, Study, StudyShare


def _id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def study_list_for_user(user: User) -> QuerySet[Study]:
    """Every study the user may read: their own, and (a doctor) those patients or colleagues share with them."""
    if not user.is_authenticated:
        return Study.objects.none()
    readable = Q(box__owner=user)
    if user.is_doctor:
        shared = StudyShare.objects.filter(doctor=user, revoked_at__isnull=True).values("study_id")
        # A patient's study needs their consent to the shared clinical space; a colleague's
        # Medbox study, sent in Intramed, does not.
        shared_space = Q(box__kind=BoxKind.MEDBOX) | Q(box__owner__in=patients_with_shared_space())
        readable |= (
            Q(hidden_from_doctors_at__isnull=True)
            & shared_space
            & (
                Q(pk__in=shared)
                | (Q(box__kind=BoxKind.WELBOX) & Q(folder_id__in=box_selectors.folders_shared_with(user).values("pk")))
            )
        )
    return Study.objects.filter(readable).select_related("box__owner", "folder__patient", "dicom_patient")


def studies_hidden_from_doctors() -> QuerySet[Study]:
    """Every study its patient hid from doctors, for apps that list what points at studies."""
    return Study.objects.filter(hidden_from_doctors_at__isnull=False)


def studies_owned_by(user: User) -> QuerySet[Study]:
    return study_list_for_user(user).filter(box__owner=user)


def studies_shared_with(doctor: User) -> QuerySet[Study]:
    """The studies patients and colleagues share with this doctor (nothing for anyone else)."""
    if not doctor.is_authenticated or not doctor.is_doctor:
        return Study.objects.none()
    return study_list_for_user(doctor).exclude(box__owner=doctor)


def study_get_for_user(user: User, study_id, *, owned: bool = False) -> Study:
    """A study the user may read (``owned``: one of their own box, for changes); else 404."""
    studies = studies_owned_by(user) if owned else study_list_for_user(user)
    study = studies.filter(pk=_id(study_id)).first()
    if study is None:
        raise Http404
    return study


def series_list_for_study(study: Study) -> QuerySet[Series]:
    """The series of a study the caller already obtained through ``study_get_for_user``."""
    return study.series.all()


def series_get_for_user(user: User, series_id) -> Series:
    series = (
        Series.objects.filter(pk=_id(series_id), study__in=study_list_for_user(user))
        .select_related("study__box__owner", "study__folder__patient")
        .first()
    )
    if series is None:
        raise Http404
    return series


def instances_of_series(series: Series) -> QuerySet[Instance]:
    """The instances of a series the caller already obtained through ``series_get_for_user``, in viewing order."""
    return series.instances.order_by("number", "slice_position", "id")


def instance_get_for_user(user: User, instance_id) -> Instance:
    instance = (
        Instance.objects.filter(pk=_id(instance_id), series__study__in=study_list_for_user(user))
        .select_related("series__study__box__owner", "series__study__folder__patient")
        .first()
    )
    if instance is None:
        raise Http404
    return instance


def study_shares(user: User, study: Study) -> QuerySet[StudyShare]:
    """The live shares of one of the user's studies."""
    if study.box.owner_id != user.pk:
        return StudyShare.objects.none()
    return study.shares.filter(revoked_at__isnull=True).select_related("doctor")


def study_share_get_for_owner(user: User, share_id) -> StudyShare:
    share = StudyShare.objects.filter(pk=_id(share_id), study__box__owner=user).select_related("study__box").first()
    if share is None:
        raise Http404
    return share


def cd_import_list_for_user(user: User) -> QuerySet[CdImport]:
    if not user.is_authenticated:
        return CdImport.objects.none()
    return CdImport.objects.filter(owner=user)


def cd_import_get_for_user(user: User, import_id) -> CdImport:
    """One of the user's own imports; anyone else's is a 404."""
    try:
        cd_import = cd_import_list_for_user(user).filter(pk=import_id).select_related("box", "folder").first()
    except (ValueError, ValidationError):
        cd_import = None
    if cd_import is None:
        raise Http404
    return cd_import


def import_skips(cd_import: CdImport) -> QuerySet[ImportSkip]:
    return cd_import.skips.all()
