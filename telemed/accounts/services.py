"""Every use case of accounts that changes state. One transaction each; the actor is checked here."""

import datetime
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from telemed.accounts import consents, tasks
from telemed.accounts.models import (
    Certification,
    CertificationKind,
    ConsentKind,
    DoctorProfile,
    DoctorTitle,
    Invitation,
    InvitationKind,
    Language,
    PatientProfile,
    Role,
    SecretaryAssignment,
    SecretaryProfile,
    Sex,
    Specialty,
    Structure,
    StructureManagerProfile,
    User,
    VerificationStatus,
)
from telemed.lib import filetypes
from telemed.lib.text import account_email

EMAIL_VERIFY_SALT = "telemed.accounts.email-verify"
EMAIL_VERIFY_MAX_AGE = datetime.timedelta(days=7)
INVITATION_LIFETIME = datetime.timedelta(days=14)


@dataclass(frozen=True)
class Person:
    """What every registration asks: who the person is and how to log in."""

    email: str
    password: str
    first_name: str
    last_name: str
    language: str = "it"


@dataclass(frozen=True)
class Identity:
    codice_fiscale: str
    birth_date: datetime.date
    sex: Sex
    phone: str


@dataclass(frozen=True)
class UploadedCertification:
    kind: CertificationKind
    name: str
    stream: BinaryIO
    size: int


def _create_user(person: Person, role: Role) -> User:
    """The account, with the privacy notice read and the terms accepted (every registration form
    asks both) under the versions in force."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                person.email,
                person.password,
                first_name=person.first_name.strip(),
                last_name=person.last_name.strip(),
                role=role,
                language=person.language,
            )
    except IntegrityError as exc:
        raise ValidationError({"email": _("An account with this e-mail address already exists.")}) from exc
    consents.consents_give(user=user, kinds=consents.EVERY_ACCOUNT)
    return user


def _check_codice_fiscale_free(model, codice_fiscale: str) -> None:
    if model.objects.filter(codice_fiscale=codice_fiscale).exists():
        raise ValidationError({"codice_fiscale": _("This codice fiscale is already registered.")})


@transaction.atomic
def patient_register(*, person: Person, identity: Identity, shared_space: bool = True) -> User:
    """A patient can use the platform at once; the e-mail is verified afterwards. The patient gave
    the consent to the processing of their health data (the form requires it) and, when
    ``shared_space``, the one to the shared clinical space."""
    _check_codice_fiscale_free(PatientProfile, identity.codice_fiscale)
    user = _create_user(person, Role.PATIENT)
    PatientProfile.objects.create(user=user, **identity.__dict__)
    given = [ConsentKind.HEALTH_DATA, ConsentKind.SHARED_SPACE] if shared_space else [ConsentKind.HEALTH_DATA]
    consents.consents_give(user=user, kinds=given)
    _enqueue_email_verification(user)
    return user


def _unique_slug(base: str, model) -> str:
    root = slugify(base)[:100] or "medico"
    slug, n = root, 1
    while model.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{root}-{n}"
    return slug


def _check_certification(upload: UploadedCertification) -> str:
    """The sniffed MIME type of an acceptable certification, or a ValidationError."""
    field = f"certification_{upload.kind}"
    if upload.size > settings.CERTIFICATION_MAX_BYTES:
        message = _("“%(name)s” is larger than %(limit)d MB.") % {
            "name": upload.name,
            "limit": settings.CERTIFICATION_MAX_BYTES // (1024 * 1024),
        }
        raise ValidationError({field: message})
    mime = filetypes.identify_document_or_image(upload.stream)
    if mime is None:
        raise ValidationError({field: _("“%(name)s” is not a readable PDF or image.") % {"name": upload.name}})
    return mime


def doctor_register(
    *,
    person: Person,
    identity: Identity,
    ordine_province: str,
    ordine_number: str,
    partita_iva: str,
    iban: str,
    practice_address: str,
    practice_city: str,
    practice_postcode: str,
    practice_province: str,
    specialties: list[Specialty],
    languages: list[Language],
    certifications: list[UploadedCertification],
    presentation: str = "",
    title: str = "",
) -> User:
    """A doctor is online at once; the certifications wait for staff, and the profile says so.
    ``title`` is "Dott." or "Dott.ssa" as the doctor chose; left empty, it follows the codice
    fiscale's sex."""
    with _files_removed_on_failure() as stored, transaction.atomic():
        return _doctor_register(
            person=person,
            identity=identity,
            ordine_province=ordine_province,
            ordine_number=ordine_number,
            partita_iva=partita_iva,
            iban=iban,
            practice_address=practice_address,
            practice_city=practice_city,
            practice_postcode=practice_postcode,
            practice_province=practice_province,
            specialties=specialties,
            languages=languages,
            certifications=certifications,
            presentation=presentation,
            stored=stored,
            title=title,
        )


def _doctor_register(
    *,
    person,
    identity,
    ordine_province,
    ordine_number,
    partita_iva,
    iban,
    practice_address,
    practice_city,
    practice_postcode,
    practice_province,
    specialties,
    languages,
    certifications,
    presentation,
    stored,
    title="",
) -> User:
    if title and title not in DoctorTitle.values:
        raise ValidationError({"title": _("Choose Dott. or Dott.ssa.")})
    missing = set(CertificationKind.values) - {c.kind for c in certifications}
    if missing:
        raise ValidationError(_("Every certification the law asks for must be uploaded."))
    if not specialties:
        raise ValidationError({"specialties": _("Choose at least one specialty.")})
    if not languages:
        raise ValidationError({"languages": _("Choose at least one language.")})
    mimes = [_check_certification(c) for c in certifications]
    _check_codice_fiscale_free(DoctorProfile, identity.codice_fiscale)
    if DoctorProfile.objects.filter(ordine_province=ordine_province, ordine_number=ordine_number).exists():
        raise ValidationError({"ordine_number": _("This Ordine registration is already used by another doctor.")})

    user = _create_user(person, Role.DOCTOR)
    profile = DoctorProfile.objects.create(
        user=user,
        slug=_unique_slug(f"{person.first_name} {person.last_name}", DoctorProfile),
        ordine_province=ordine_province,
        ordine_number=ordine_number.strip(),
        partita_iva=partita_iva,
        iban=iban,
        practice_address=practice_address.strip(),
        practice_city=practice_city.strip(),
        practice_postcode=practice_postcode.strip(),
        practice_province=practice_province,
        presentation=presentation.strip(),
        title=title or (DoctorTitle.DOTTSSA if identity.sex == Sex.FEMALE else DoctorTitle.DOTT),
        **identity.__dict__,
    )
    profile.specialties.set(specialties)
    profile.languages.set(languages)
    for upload, mime in zip(certifications, mimes, strict=True):
        _store_certification(profile, upload, mime, stored)
    _enqueue_email_verification(user)
    return user


def _store_certification(
    profile: DoctorProfile, upload: UploadedCertification, mime: str, stored: list[str]
) -> Certification:
    certification = Certification(
        doctor=profile, kind=upload.kind, original_name=upload.name[:255], content_type=mime, size=upload.size
    )
    upload.stream.seek(0)
    certification.file.save(upload.name, File(upload.stream), save=False)
    if certification.file.name:  # the name the storage chose, removed again if the transaction fails
        stored.append(certification.file.name)
    certification.save()
    return certification


@contextmanager
def _files_removed_on_failure():
    """Files are not transactional: if the use case fails, delete what it stored."""
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise


def doctor_certification_add(*, actor: User, upload: UploadedCertification) -> Certification:
    """A doctor uploads a renewed or missing certification; it waits for staff again."""
    if not actor.is_doctor:
        raise PermissionDenied
    mime = _check_certification(upload)
    with _files_removed_on_failure() as stored, transaction.atomic():
        return _store_certification(actor.doctor_profile, upload, mime, stored)


@transaction.atomic
def certification_review(*, actor: User, certification: Certification, approve: bool, note: str = "") -> None:
    if not actor.is_staff:
        raise PermissionDenied
    certification.status = VerificationStatus.VERIFIED if approve else VerificationStatus.REJECTED
    certification.reviewed_by = actor
    certification.reviewed_at = timezone.now()
    certification.review_note = note[:300]
    certification.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])


@transaction.atomic
def structure_manager_register(
    *,
    person: Person,
    phone: str,
    structure_name: str,
    partita_iva: str,
    address: str,
    city: str,
    province: str,
) -> User:
    if Structure.objects.filter(partita_iva=partita_iva).exists():
        raise ValidationError({"partita_iva": _("A structure with this partita IVA is already registered.")})
    user = _create_user(person, Role.STRUCTURE_MANAGER)
    structure = Structure.objects.create(
        name=structure_name.strip(),
        slug=_unique_slug(structure_name, Structure),
        partita_iva=partita_iva,
        address=address.strip(),
        city=city.strip(),
        province=province,
    )
    StructureManagerProfile.objects.create(user=user, structure=structure, phone=phone)
    _enqueue_email_verification(user)
    return user


# --- e-mail verification ------------------------------------------------------------


def _enqueue_email_verification(user: User) -> None:
    # Enqueued in the registration's own transaction: no account without its e-mail.
    tasks.send_email_verification.enqueue(user_id=user.pk)


def email_verification_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email}, salt=EMAIL_VERIFY_SALT)


def email_verification_resend(*, actor: User) -> None:
    if actor.email_verified:
        return
    _enqueue_email_verification(actor)


@transaction.atomic
def email_verify(*, token: str) -> User:
    """Mark the e-mail in the signed token as verified; the token must match the current address."""
    try:
        data = signing.loads(token, salt=EMAIL_VERIFY_SALT, max_age=EMAIL_VERIFY_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ValidationError(_("This verification link has expired. Ask for a new one from your dashboard.")) from exc
    except signing.BadSignature as exc:
        raise ValidationError(_("This verification link is not valid.")) from exc
    user = User.objects.select_for_update().filter(pk=data.get("u"), email=data.get("e")).first()
    if user is None:
        raise ValidationError(_("This verification link is not valid."))
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


def password_reset_request(*, email: str) -> None:
    """E-mail a reset link to the account with this address, if there is one.

    The caller says the same thing whatever happens, so that the form does not
    reveal which addresses have an account.
    """
    user = User.objects.filter(email__iexact=account_email(email), is_active=True).first()
    if user is not None and user.has_usable_password():
        tasks.send_password_reset.enqueue(user_id=user.pk)


# --- invitations: secretaries and structures ------------------------------------------


@transaction.atomic
def secretary_invite(*, actor: User, email: str) -> Invitation:
    if not actor.is_doctor:
        raise PermissionDenied
    email = account_email(email)
    existing = User.objects.filter(email=email).first()
    if existing is not None and not existing.is_secretary:
        raise ValidationError({"email": _("This e-mail belongs to an account that is not a secretary's.")})
    if SecretaryAssignment.objects.filter(secretary__user__email=email, doctor=actor.doctor_profile).exists():
        raise ValidationError({"email": _("This secretary already works for you.")})
    invitation = Invitation.objects.create(
        kind=InvitationKind.SECRETARY,
        email=email,
        token=secrets.token_urlsafe(32),
        invited_by=actor,
        doctor=actor.doctor_profile,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    tasks.send_invitation.enqueue(invitation_id=invitation.pk)
    return invitation


@transaction.atomic
def structure_doctor_invite(*, actor: User, email: str) -> Invitation:
    if not actor.is_structure_manager:
        raise PermissionDenied
    email = account_email(email)
    structure = actor.structure_manager_profile.structure
    doctor = DoctorProfile.objects.filter(user__email=email).first()
    if doctor is None:
        raise ValidationError({"email": _("No doctor is registered with this e-mail address.")})
    if doctor.structure_id == structure.pk:
        raise ValidationError({"email": _("This doctor is already part of your structure.")})
    invitation = Invitation.objects.create(
        kind=InvitationKind.STRUCTURE_DOCTOR,
        email=email,
        token=secrets.token_urlsafe(32),
        invited_by=actor,
        structure=structure,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    tasks.send_invitation.enqueue(invitation_id=invitation.pk)
    return invitation


def _open_invitation(token: str) -> Invitation:
    invitation = Invitation.objects.select_for_update().filter(token=token).first()
    if invitation is None or not invitation.is_open:
        raise ValidationError(_("This invitation is not valid any more. Ask for a new one."))
    return invitation


@transaction.atomic
def invitation_accept(*, actor: User, token: str) -> Invitation:
    """The invitee, logged in with the invited e-mail, accepts."""
    invitation = _open_invitation(token)
    if account_email(actor.email) != account_email(invitation.email):
        raise ValidationError(_("This invitation was sent to another e-mail address."))
    if invitation.kind == InvitationKind.SECRETARY:
        if not actor.is_secretary:
            raise ValidationError(_("Only a secretary's account can accept this invitation."))
        SecretaryAssignment.objects.get_or_create(secretary=actor.secretary_profile, doctor=invitation.doctor)
    else:
        if not actor.is_doctor:
            raise ValidationError(_("Only a doctor's account can accept this invitation."))
        profile = actor.doctor_profile
        profile.structure = invitation.structure
        profile.save(update_fields=["structure"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = actor
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return invitation


@transaction.atomic
def secretary_register_from_invitation(*, token: str, person: Person, phone: str) -> User:
    """A new secretary signs up through the link a doctor sent; the e-mail is proven by the link."""
    invitation = _open_invitation(token)
    if invitation.kind != InvitationKind.SECRETARY:
        raise ValidationError(_("This invitation is not valid any more. Ask for a new one."))
    user = _create_user(Person(**{**person.__dict__, "email": invitation.email}), Role.SECRETARY)
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    SecretaryProfile.objects.create(user=user, phone=phone)
    invitation_accept(actor=user, token=token)
    return user


@transaction.atomic
def secretary_remove(*, actor: User, secretary_id: int) -> None:
    if not actor.is_doctor:
        raise PermissionDenied
    SecretaryAssignment.objects.filter(doctor=actor.doctor_profile, secretary_id=secretary_id).delete()


@transaction.atomic
def structure_doctor_detach(*, actor: User, doctor_id: int) -> None:
    """A manager detaches a doctor, or a doctor leaves their structure."""
    if actor.is_structure_manager:
        structure = actor.structure_manager_profile.structure
        DoctorProfile.objects.filter(pk=doctor_id, structure=structure).update(structure=None)
    elif actor.is_doctor and actor.doctor_profile.pk == doctor_id:
        DoctorProfile.objects.filter(pk=doctor_id).update(structure=None)
    else:
        raise PermissionDenied


@transaction.atomic
def doctor_profile_update(
    *,
    actor: User,
    presentation: str,
    specialties: list[Specialty],
    languages: list[Language],
    phone: str,
    practice_address: str,
    practice_city: str,
    practice_postcode: str,
    practice_province: str,
    iban: str,
    available_for_second_opinion: bool,
    title: str | None = None,
) -> DoctorProfile:
    """What a doctor may change alone. Identity and Ordine data change only through staff."""
    if not actor.is_doctor:
        raise PermissionDenied
    if title is not None and title not in DoctorTitle.values:
        raise ValidationError({"title": _("Choose Dott. or Dott.ssa.")})
    if not specialties:
        raise ValidationError({"specialties": _("Choose at least one specialty.")})
    if not languages:
        raise ValidationError({"languages": _("Choose at least one language.")})
    profile = DoctorProfile.objects.select_for_update().get(user=actor)
    profile.presentation = presentation.strip()
    profile.phone = phone.strip()
    profile.practice_address = practice_address.strip()
    profile.practice_city = practice_city.strip()
    profile.practice_postcode = practice_postcode.strip()
    profile.practice_province = practice_province
    profile.iban = iban
    profile.available_for_second_opinion = available_for_second_opinion
    if title is not None:
        profile.title = title
    profile.save()
    profile.specialties.set(specialties)
    profile.languages.set(languages)
    return profile


@transaction.atomic
def patient_profile_update(*, actor: User, phone: str) -> PatientProfile:
    if not actor.is_patient:
        raise PermissionDenied
    profile = PatientProfile.objects.select_for_update().get(user=actor)
    profile.phone = phone.strip()
    profile.save(update_fields=["phone"])
    return profile


def user_set_language(*, actor: User, language: str) -> None:
    if language in dict(settings.LANGUAGES) and actor.language != language:
        actor.language = language
        actor.save(update_fields=["language"])
