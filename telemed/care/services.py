"""Creating, accepting and ending doctor–patient links. The patient's consent is what activates one."""

import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.care import selectors, tasks
from telemed.care.consent import consent_text
from telemed.care.models import CareLink, LinkStatus
from telemed.notifications.services import notify

NOTIFICATION_KIND = "care_link"


def _create(**fields) -> CareLink:
    try:
        with transaction.atomic():
            return CareLink.objects.create(**fields)
    except IntegrityError as exc:
        raise ValidationError(_("There is already a link, or a pending request, between you.")) from exc


def _links_page(user) -> str:
    return reverse("care:links")


@transaction.atomic
def care_request(*, actor: User, doctor: User, message: str = "") -> CareLink:
    """A patient asks to be linked to a doctor; asking is the patient's consent, the doctor accepts."""
    if not actor.is_patient:
        raise PermissionDenied
    if not doctor.is_doctor or not doctor.is_active:
        raise ValidationError(_("This doctor cannot be reached on telemed."))
    if selectors.open_link_between(doctor=doctor, patient=actor):
        raise ValidationError(_("There is already a link, or a pending request, between you."))
    link = _create(
        doctor=doctor,
        patient=actor,
        status=LinkStatus.REQUESTED,
        message=message.strip()[:500],
        consent_text=consent_text(doctor.get_full_name()),
        consented_at=timezone.now(),
    )
    notify(
        recipient=doctor,
        kind=NOTIFICATION_KIND,
        title=_("%(patient)s asks to be linked to you") % {"patient": actor.get_full_name()},
        url=_links_page(doctor),
    )
    return link


@transaction.atomic
def care_invite(*, actor: User, email: str, message: str = "") -> CareLink:
    """A doctor invites a patient by e-mail. Nothing is reachable until the patient accepts."""
    if not actor.is_doctor:
        raise PermissionDenied
    email = email.strip().lower()
    patient = User.objects.filter(email__iexact=email).first()
    if patient is not None and not patient.is_patient:
        raise ValidationError(_("This e-mail belongs to an account that is not a patient's."))
    if patient is not None:
        if selectors.open_link_between(doctor=actor, patient=patient):
            raise ValidationError(_("There is already a link, or a pending request, between you."))
        link = _create(doctor=actor, patient=patient, status=LinkStatus.INVITED, message=message.strip()[:500])
        notify(
            recipient=patient,
            kind=NOTIFICATION_KIND,
            title=_("%(doctor)s invites you to link to them") % {"doctor": actor.display_name},
            url=_links_page(patient),
        )
        return link
    if CareLink.objects.filter(doctor=actor, invited_email=email, status=LinkStatus.INVITED).exists():
        raise ValidationError(_("You have already invited this address."))
    link = _create(
        doctor=actor,
        invited_email=email,
        token=secrets.token_urlsafe(32),
        status=LinkStatus.INVITED,
        message=message.strip()[:500],
    )
    tasks.send_care_invitation.enqueue(link_id=link.pk)
    return link


def _locked(link: CareLink) -> CareLink:
    return CareLink.objects.select_for_update().get(pk=link.pk)


@transaction.atomic
def care_accept(*, actor: User, link: CareLink) -> CareLink:
    """The other side says yes: the doctor to a patient's request, the patient (consenting) to an invitation."""
    link = _locked(link)
    now = timezone.now()
    if link.status == LinkStatus.REQUESTED and actor.pk == link.doctor_id:
        link.status, link.activated_at = LinkStatus.ACTIVE, now
        notify(
            recipient=link.patient,
            kind=NOTIFICATION_KIND,
            title=_("%(doctor)s accepted your link") % {"doctor": link.doctor.display_name},
            url=_links_page(link.patient),
        )
    elif link.status == LinkStatus.INVITED and actor.pk == link.patient_id:
        link.status, link.activated_at, link.consented_at = LinkStatus.ACTIVE, now, now
        link.consent_text = consent_text(link.doctor.get_full_name())
        notify(
            recipient=link.doctor,
            kind=NOTIFICATION_KIND,
            title=_("%(patient)s accepted your invitation") % {"patient": actor.get_full_name()},
            url=_links_page(link.doctor),
        )
    else:
        raise ValidationError(_("This link cannot be accepted by you, or not any more."))
    link.token = None
    link.save()
    return link


@transaction.atomic
def care_decline(*, actor: User, link: CareLink) -> CareLink:
    link = _locked(link)
    waiting_for = link.doctor_id if link.status == LinkStatus.REQUESTED else link.patient_id
    if link.status not in (LinkStatus.REQUESTED, LinkStatus.INVITED) or actor.pk != waiting_for:
        raise ValidationError(_("This link cannot be declined by you, or not any more."))
    link.status, link.ended_at, link.ended_by, link.token = LinkStatus.DECLINED, timezone.now(), actor, None
    link.save()
    return link


@transaction.atomic
def care_revoke(*, actor: User, link: CareLink) -> CareLink:
    """End an active link (the patient at any time; the doctor too) or withdraw one's own pending request.

    What was already delivered stays where it is; from now on the doctor can send nothing new.
    """
    link = _locked(link)
    if actor.pk not in (link.doctor_id, link.patient_id) or link.status not in (
        LinkStatus.ACTIVE,
        LinkStatus.REQUESTED,
        LinkStatus.INVITED,
    ):
        raise ValidationError(_("This link is not active."))
    link.status, link.ended_at, link.ended_by, link.token = LinkStatus.REVOKED, timezone.now(), actor, None
    link.save()
    other = link.doctor if actor.pk == link.patient_id else link.patient
    if other is not None:
        notify(
            recipient=other,
            kind=NOTIFICATION_KIND,
            title=_("%(name)s ended your link") % {"name": actor.get_full_name()},
            url=_links_page(other),
        )
    return link


@transaction.atomic
def care_invitation_claim(*, actor: User, token: str) -> CareLink:
    """A patient who followed an e-mailed invitation takes it as theirs, then accepts or declines it."""
    if not actor.is_patient:
        raise ValidationError(_("Only a patient's account can accept this invitation."))
    link = CareLink.objects.select_for_update().filter(token=token, status=LinkStatus.INVITED).first()
    if link is None:
        raise ValidationError(_("This invitation is not valid any more. Ask for a new one."))
    if link.patient_id is None:
        if selectors.open_link_between(doctor=link.doctor, patient=actor):
            raise ValidationError(_("There is already a link, or a pending request, between you."))
        link.patient = actor
        link.save(update_fields=["patient"])
    elif link.patient_id != actor.pk:
        raise ValidationError(_("This invitation was sent to another e-mail address."))
    return link


@transaction.atomic
def care_links_end_of(*, user: User) -> int:
    """End every open link of ``user`` without telling anyone (their account is being erased; the
    rights app has told the other side already). What was delivered stays where it is."""
    return CareLink.objects.filter(
        Q(doctor=user) | Q(patient=user), status__in=[LinkStatus.ACTIVE, LinkStatus.REQUESTED, LinkStatus.INVITED]
    ).update(status=LinkStatus.REVOKED, ended_at=timezone.now(), ended_by=user, token=None)
