"""Reads of the boxes, already scoped to what the asking user may see.

A box's owner sees everything in it. A doctor also reads the Welbox documents a
patient shared with them (the document itself, or a folder it is in now), for as
long as the share is not revoked, the patient has not hidden the document
(oscuramento: a hidden document is neither listed nor read by any doctor) and the patient
consents to the shared clinical space (accounts.consents). Nobody
else reaches a box: a patient never reaches another patient's, and a missing or
forbidden document is the same 404.
"""

import datetime
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.http import Http404

from telemed.accounts.consents import patients_with_shared_space
from telemed.accounts.models import User
from telemed.accounts.selectors import public_doctors
from telemed.boxes.models import Box, BoxKind, Document, Folder, Share, UploadSession
from telemed.boxes.services import box_settings
from telemed.care.selectors import linked_patients


@dataclass(frozen=True)
class Usage:
    quota: int
    used: int
    reserved: int
    system: int

    @property
    def taken(self) -> int:
        return self.used + self.reserved

    @property
    def high_mark(self) -> int:
        return self.quota * 9 // 10

    @property
    def low_mark(self) -> int:
        return self.quota * 7 // 10

    @property
    def free(self) -> int:
        return max(self.quota - self.used - self.reserved, 0)

    @property
    def percent(self) -> int:
        return min(100, round(100 * (self.used + self.reserved) / self.quota)) if self.quota else 100

    @property
    def nearly_full(self) -> bool:
        return self.percent >= 90


def box_usage(box: Box) -> Usage:
    box.refresh_from_db(fields=["extra_quota_bytes", "used_bytes", "reserved_bytes", "system_bytes"])
    return Usage(
        quota=box_settings().free_quota_bytes + box.extra_quota_bytes,
        used=box.used_bytes,
        reserved=box.reserved_bytes,
        system=box.system_bytes,
    )


def _live_shares(doctor: User) -> QuerySet[Share]:
    return Share.objects.filter(doctor=doctor, revoked_at__isnull=True)


def _readable(user: User) -> QuerySet[Document]:
    if not user.is_authenticated:
        return Document.objects.none()
    readable = Q(box__owner=user)
    if user.is_doctor:
        shares = _live_shares(user)
        readable |= Q(
            box__kind=BoxKind.WELBOX, hidden_from_doctors_at__isnull=True, box__owner__in=patients_with_shared_space()
        ) & (
            Q(pk__in=shares.filter(document__isnull=False).values("document_id"))
            | Q(folder_id__in=shares.filter(folder__isnull=False).values("folder_id"))
        )
    return Document.objects.filter(readable).select_related("box__owner", "folder__patient")


def document_get_for_user(user: User, document_id, *, owned: bool = False) -> Document:
    """A document the user may read (``owned``: one of their own box, for changes); else 404."""
    try:
        document_id = int(document_id)
    except (TypeError, ValueError):
        raise Http404 from None
    documents = _readable(user).filter(box__owner=user) if owned else _readable(user)
    document = documents.filter(pk=document_id).first()
    if document is None:
        raise Http404
    return document


def document_list_for_user(
    user: User,
    *,
    folder: Folder | None = None,
    category: str | None = None,
    query: str | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> QuerySet[Document]:
    """The user's own documents, searched by name, date added and category, optionally in one folder."""
    documents = _readable(user).filter(box__owner=user)
    if folder is not None:
        documents = documents.filter(folder=folder)
    return _search(documents, category=category, query=query, date_from=date_from, date_to=date_to)


def documents_shared_with(
    doctor: User, *, category: str | None = None, query: str | None = None,
    date_from: datetime.date | None = None, date_to: datetime.date | None = None,
) -> QuerySet[Document]:  # fmt: skip
    """The Welbox documents patients shared with this doctor (nothing for anyone else)."""
    if not doctor.is_authenticated or not doctor.is_doctor:
        return Document.objects.none()
    documents = _readable(doctor).exclude(box__owner=doctor)
    return _search(documents, category=category, query=query, date_from=date_from, date_to=date_to).order_by(
        "box__owner__last_name", "box__owner__first_name", "-created_at"
    )


def documents_hidden_from_doctors() -> QuerySet[Document]:
    """Every document its patient hid from doctors (oscuramento), for apps that list what points
    at documents (a consult's attachments) and must leave these out for the doctor."""
    return Document.objects.filter(hidden_from_doctors_at__isnull=False)


def _search(documents, *, category, query, date_from, date_to) -> QuerySet[Document]:
    if category:
        documents = documents.filter(category=category)
    if query:
        documents = documents.filter(name__icontains=query)
    # Dates are the days as the user sees them (Europe/Rome), bounds included.
    if date_from:
        documents = documents.filter(created_at__date__gte=date_from)
    if date_to:
        documents = documents.filter(created_at__date__lte=date_to)
    return documents


def folder_list_for_user(user: User) -> QuerySet[Folder]:
    if not user.is_authenticated:
        return Folder.objects.none()
    return Folder.objects.filter(box__owner=user).select_related("patient")


def folder_get_for_user(user: User, folder_id) -> Folder:
    """One of the user's own folders, else 404 (another box's folder does not exist for them)."""
    try:
        folder_id = int(folder_id)
    except (TypeError, ValueError):
        raise Http404 from None
    folder = folder_list_for_user(user).filter(pk=folder_id).first()
    if folder is None:
        raise Http404
    return folder


def shares_of_document(user: User, document: Document) -> QuerySet[Share]:
    """The live shares of one of the user's documents (direct, and through its folder)."""
    if document.box.owner_id != user.pk:
        return Share.objects.none()
    target = Q(document=document)
    if document.folder_id:
        target |= Q(folder_id=document.folder_id)
    return Share.objects.filter(target, revoked_at__isnull=True).select_related("doctor", "folder")


def shares_of_folder(user: User, folder: Folder) -> QuerySet[Share]:
    if folder.box.owner_id != user.pk:
        return Share.objects.none()
    return Share.objects.filter(folder=folder, revoked_at__isnull=True).select_related("doctor")


def share_get_for_owner(user: User, share_id) -> Share:
    try:
        share_id = int(share_id)
    except (TypeError, ValueError):
        raise Http404 from None
    share = (
        Share.objects.filter(pk=share_id)
        .filter(Q(document__box__owner=user) | Q(folder__box__owner=user))
        .select_related("document__box", "folder__box")
        .first()
    )
    if share is None:
        raise Http404
    return share


def doctors_to_share_with() -> QuerySet[User]:
    """Every doctor in the public directory (a patient may consult any of them)."""
    return User.objects.filter(pk__in=public_doctors().values("user_id")).order_by("last_name", "first_name")


def doctor_to_share_with(doctor_id) -> User:
    try:
        doctor_id = int(doctor_id)
    except (TypeError, ValueError):
        raise Http404 from None
    doctor = doctors_to_share_with().filter(pk=doctor_id).first()
    if doctor is None:
        raise Http404
    return doctor


def patients_sharing_with(doctor: User) -> QuerySet[User]:
    """The patients who share at least one document or folder with this doctor right now."""
    if not doctor.is_authenticated or not doctor.is_doctor:
        return User.objects.none()
    shares = _live_shares(doctor)
    return (
        User.objects.filter(Q(box__documents__shares__in=shares) | Q(box__folders__shares__in=shares), role="patient")
        .distinct()
        .order_by("last_name", "first_name")
    )


def patients_for_folders(doctor: User) -> QuerySet[User]:
    """The patient accounts a doctor may link to a Medbox folder: those in an active care link
    (accepted by the patient) and those who share documents with the doctor."""
    if not doctor.is_authenticated or not doctor.is_doctor:
        return User.objects.none()
    linked = linked_patients(doctor).values("pk")
    sharing = patients_sharing_with(doctor).values("pk")
    return User.objects.filter(Q(pk__in=linked) | Q(pk__in=sharing)).order_by("last_name", "first_name")


def upload_get_for_user(user: User, upload_id) -> UploadSession:
    """One of the user's own uploads; anyone else's is a 404."""
    upload = UploadSession.objects.filter(pk=upload_id, owner=user).first() if user.is_authenticated else None
    if upload is None:
        raise Http404
    return upload


def folders_shared_with(doctor: User) -> QuerySet[Folder]:
    """The Welbox folders patients share with this doctor right now (for apps that file things in folders)."""
    if not doctor.is_authenticated or not doctor.is_doctor:
        return Folder.objects.none()
    return Folder.objects.filter(
        box__kind=BoxKind.WELBOX, pk__in=_live_shares(doctor).filter(folder__isnull=False).values("folder_id")
    )


def box_of_owner(user: User) -> Box | None:
    """The account's own box if it has one (none is made for asking)."""
    return Box.objects.filter(owner=user).first()
