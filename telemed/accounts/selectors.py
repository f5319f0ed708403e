"""Reads of accounts data, already scoped to what the asking user may see."""

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from telemed.accounts.models import (
    Certification,
    CertificationKind,
    DoctorProfile,
    Invitation,
    Language,
    SecretaryAssignment,
    Specialty,
    User,
    VerificationStatus,
)
from telemed.lib.text import account_email


def account_sessions(user: User) -> list:
    """The browsers ``user`` is logged in on, most recent first."""
    from telemed.accounts.sessions import sessions_of

    return sessions_of(user)


def security_events(user: User, limit: int = 20) -> list:
    """The latest changes of ``user``'s credentials, for their security page."""
    return list(user.security_events.select_related("actor")[:limit])


def own_identity_data(user: User) -> list[tuple[str, str]]:
    """What the account holder sees of their own identity data but cannot change alone (the law
    ties it to identity documents and, for doctors, to the Ordine's register), as (label, value)."""
    from django.utils.formats import date_format
    from django.utils.translation import gettext as _

    rows = [(_("Name"), user.get_full_name()), (_("E-mail"), user.email)]
    profile = (
        getattr(user, "doctor_profile", None)
        if user.is_doctor
        else getattr(user, "patient_profile", None)
        if user.is_patient
        else None
    )
    if profile is not None:
        rows += [
            (_("Codice fiscale"), profile.codice_fiscale),
            (_("Birth date"), date_format(profile.birth_date, "DATE_FORMAT")),
            (_("Sex"), profile.get_sex_display()),
        ]
    if user.is_doctor and profile is not None:
        rows += [
            (_("Ordine dei Medici"), f"{profile.ordine_province} n. {profile.ordine_number}"),
            (_("Partita IVA"), profile.partita_iva),
        ]
    return rows


def email_is_registered(email: str) -> bool:
    return User.objects.filter(email__iexact=account_email(email)).exists()


def specialty_list() -> QuerySet[Specialty]:
    return Specialty.objects.all()


def language_list() -> QuerySet[Language]:
    return Language.objects.all()


def public_doctors() -> QuerySet[DoctorProfile]:
    """Every doctor whose account is active: doctors are public from the moment they register, and
    leave the directory as soon as they confirm the deletion of their account."""
    return DoctorProfile.objects.filter(user__is_active=True, user__erasure_due_at__isnull=True).select_related(
        "user", "structure"
    )


def doctor_public_profile(slug: str) -> DoctorProfile:
    doctor = (
        public_doctors()
        .prefetch_related("specialties", "languages", Prefetch("certifications", queryset=_latest_certifications()))
        .filter(slug=slug)
        .first()
    )
    if doctor is None:
        raise Http404
    return doctor


def _latest_certifications() -> QuerySet[Certification]:
    return Certification.objects.order_by("kind", "-uploaded_at")


def certification_summary(doctor: DoctorProfile) -> list[dict]:
    """The newest certification of each kind the law asks for, with its status (missing ones included)."""
    newest: dict[str, Certification] = {}
    for certification in doctor.certifications.all():
        newest.setdefault(certification.kind, certification)
    return [
        {
            "kind": kind,
            "label": label,
            "status": newest[kind].status if kind in newest else None,
            "status_label": newest[kind].get_status_display() if kind in newest else None,
            "certification": newest.get(kind),
        }
        for kind, label in CertificationKind.choices
    ]


def doctor_is_verified(doctor: DoctorProfile) -> bool:
    return all(item["status"] == VerificationStatus.VERIFIED for item in certification_summary(doctor))


def certification_get_for_user(user: User, certification_id: int) -> Certification:
    """A certification file is seen by its doctor and by platform staff, nobody else."""
    queryset = Certification.objects.select_related("doctor")
    if not user.is_staff:
        if not user.is_doctor:
            raise Http404
        queryset = queryset.filter(doctor__user=user)
    certification = queryset.filter(pk=certification_id).first()
    if certification is None:
        raise Http404
    return certification


def secretaries_of_doctor(doctor: DoctorProfile) -> QuerySet[SecretaryAssignment]:
    return doctor.secretary_assignments.select_related("secretary__user").order_by("secretary__user__last_name")


def doctors_of_secretary(user: User) -> QuerySet[DoctorProfile]:
    if not user.is_secretary:
        return DoctorProfile.objects.none()
    return public_doctors().filter(secretary_assignments__secretary__user=user).order_by("user__last_name")


def secretary_works_for(user: User, doctor: DoctorProfile) -> bool:
    return user.is_secretary and doctor.secretary_assignments.filter(secretary__user=user).exists()


def doctors_of_structure_manager(user: User) -> QuerySet[DoctorProfile]:
    if not user.is_structure_manager:
        return DoctorProfile.objects.none()
    return (
        public_doctors()
        .filter(structure=user.structure_manager_profile.structure)
        .prefetch_related("specialties")
        .order_by("user__last_name")
    )


def invitations_sent_by(user: User) -> QuerySet[Invitation]:
    return Invitation.objects.filter(invited_by=user, accepted_at__isnull=True, revoked_at__isnull=True)


def invitation_by_token(token: str) -> Invitation:
    invitation = Invitation.objects.select_related("doctor__user", "structure").filter(token=token).first()
    if invitation is None:
        raise Http404
    return invitation


def pending_certification_count() -> int:
    return Certification.objects.filter(status=VerificationStatus.PENDING).count()
