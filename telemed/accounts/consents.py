"""The privacy notice, the terms, and the consents each account gives under them.

The rules:

- The privacy notice (GDPR art. 13) and the terms are versioned (``Notice``); the version in
  force is the newest one already published. Publishing a new version is how they change.
- At registration every account reads the privacy notice and accepts the terms; a patient also
  gives, separately, the consent to the processing of their health data (art. 9(2)(a)), without
  which telemed cannot keep a Welbox, and may give the consent to the shared clinical space
  (the dossier: the doctors they choose see what they share), which is optional. Each consent
  is a row with the version it was given under and its exact wording, as the care link keeps
  the wording of the patient's consent to a doctor (``care.consent``).
- An account whose consents do not match the versions in force (a new version, or a
  withdrawn required consent) is asked again at its next page, before anything else
  (``accounts.middleware.ConsentMiddleware``). Platform staff are bound by their contract, not
  by the terms, and are never asked.
- A patient may withdraw the health-data consent or the shared-space consent at any time, and
  the page says what each stops: without the shared space no doctor sees anything the patient
  shares (the shares are kept and work again once the consent is given again); without the
  health-data consent telemed asks for it again before any page, since it cannot keep health
  data without it. Withdrawing never erases what was processed before (art. 7(3)).
- No notice of a kind published yet (a fresh database): nothing of that kind is asked.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telemed.accounts.models import Consent, ConsentKind, Notice, NoticeKind, Role, User

# Under which notice each consent is given.
NOTICE_OF = {
    ConsentKind.PRIVACY: NoticeKind.PRIVACY,
    ConsentKind.TERMS: NoticeKind.TERMS,
    ConsentKind.HEALTH_DATA: NoticeKind.PRIVACY,
    ConsentKind.SHARED_SPACE: NoticeKind.PRIVACY,
}
EVERY_ACCOUNT = (ConsentKind.PRIVACY, ConsentKind.TERMS)
PATIENT_REQUIRED = (*EVERY_ACCOUNT, ConsentKind.HEALTH_DATA)
WITHDRAWABLE = (ConsentKind.HEALTH_DATA, ConsentKind.SHARED_SPACE)

# What each consent allows, in the words the registration form and the consents page use.
WORDING = {
    ConsentKind.PRIVACY: gettext_lazy("I have read the privacy notice."),
    ConsentKind.TERMS: gettext_lazy("I accept the terms of service."),
    ConsentKind.HEALTH_DATA: gettext_lazy(
        "I consent to telemed processing my health data (the documents, images, reports, consults and visits "
        "in my account) to provide the service (GDPR art. 9(2)(a))."
    ),
    ConsentKind.SHARED_SPACE: gettext_lazy(
        "I consent to the shared clinical space: the doctors I choose may see the documents and studies "
        "I share with them, until I stop sharing or hide them."
    ),
}
# What withdrawing stops, shown before and after the patient withdraws.
WITHDRAWING_STOPS = {
    ConsentKind.HEALTH_DATA: gettext_lazy(
        "telemed can no longer process your health data: you will be asked for this consent again before "
        "any page, and can otherwise only log out. What was processed before stays lawful."
    ),
    ConsentKind.SHARED_SPACE: gettext_lazy(
        "No doctor sees anything you shared with them, until you give this consent again (your shares are "
        "kept). Your own Welbox and your consults' answers are not affected."
    ),
}


def notice_in_force(kind: NoticeKind | str) -> Notice | None:
    return Notice.objects.filter(kind=kind, published_at__lte=timezone.now()).order_by("-published_at", "-id").first()


def notice_get(kind: NoticeKind | str, version: str | None = None) -> Notice | None:
    """The version asked for (one already published), or the one in force."""
    if version is None:
        return notice_in_force(kind)
    return Notice.objects.filter(kind=kind, version=version, published_at__lte=timezone.now()).first()


def notice_versions(kind: NoticeKind | str) -> QuerySet[Notice]:
    """Every published version of one kind, newest first."""
    return Notice.objects.filter(kind=kind, published_at__lte=timezone.now()).order_by("-published_at", "-id")


def notices_in_force() -> dict[str, str]:
    """The version in force of each kind of notice (kinds with none published are left out).

    Asked on every page (ConsentMiddleware): one query over the published versions, a handful
    in all (a few a year), the newest of each kind kept."""
    versions: dict[str, str] = {}
    published = Notice.objects.filter(published_at__lte=timezone.now()).order_by("-published_at", "-id")
    for kind, version in published.values_list("kind", "version"):
        versions.setdefault(kind, version)
    return versions


def live_consents(user: User) -> QuerySet[Consent]:
    return Consent.objects.filter(user=user, withdrawn_at__isnull=True)


def required_kinds(user: User) -> tuple[ConsentKind, ...]:
    if not user.is_authenticated or user.role == Role.STAFF or user.is_staff:
        return ()
    return PATIENT_REQUIRED if user.is_patient else EVERY_ACCOUNT


def consents_missing(user: User) -> list[ConsentKind]:
    """The consents the account must give (again) before using telemed: required ones it has not
    given under the version in force of their notice."""
    required = required_kinds(user)
    if not required:
        return []
    versions = notices_in_force()
    given = set(live_consents(user).values_list("kind", "version"))
    return [kind for kind in required if NOTICE_OF[kind] in versions and (kind, versions[NOTICE_OF[kind]]) not in given]


def has_shared_space(user: User) -> bool:
    return live_consents(user).filter(kind=ConsentKind.SHARED_SPACE).exists()


def patients_with_shared_space() -> QuerySet:
    """The patients who consent to the shared clinical space now (doctors see their shares)."""
    return (
        get_user_model()
        .objects.filter(consents__kind=ConsentKind.SHARED_SPACE, consents__withdrawn_at__isnull=True)
        .distinct()
    )


def _give(user: User, kind: ConsentKind, versions: dict[str, str], now) -> Consent:
    version = versions.get(NOTICE_OF[kind], "")
    live = live_consents(user).filter(kind=kind)
    if live.filter(version=version).exists():
        return live.get(version=version)  # given already under this version: nothing changes
    live.update(withdrawn_at=now)  # superseded by the consent to the new version
    return Consent.objects.create(user=user, kind=kind, version=version, text=str(WORDING[kind]), given_at=now)


@transaction.atomic
def consents_give(*, user: User, kinds) -> list[Consent]:
    """Record ``kinds`` as given now, under the versions in force (a second time changes nothing)."""
    kinds = [ConsentKind(kind) for kind in dict.fromkeys(kinds)]
    if ConsentKind.HEALTH_DATA in kinds or ConsentKind.SHARED_SPACE in kinds:
        if not user.is_patient:
            raise PermissionDenied
    versions, now = notices_in_force(), timezone.now()
    return [_give(user, kind, versions, now) for kind in kinds]


@transaction.atomic
def consents_renew(*, user: User, given) -> None:
    """The answer to the page that asks again: ``given`` are the boxes ticked. A patient who
    unticks the shared clinical space withdraws it."""
    given = [ConsentKind(kind) for kind in given]
    consents_give(user=user, kinds=given)
    if user.is_patient and ConsentKind.SHARED_SPACE not in given:
        live_consents(user).filter(kind=ConsentKind.SHARED_SPACE).update(withdrawn_at=timezone.now())


@transaction.atomic
def consent_withdraw(*, user: User, kind: ConsentKind | str) -> bool:
    """Withdraw one of the patient's withdrawable consents; True when there was one to withdraw."""
    try:
        kind = ConsentKind(kind)
    except ValueError:
        raise ValidationError(_("This consent cannot be withdrawn here.")) from None
    if kind not in WITHDRAWABLE:
        raise ValidationError(_("This consent cannot be withdrawn here."))
    return bool(live_consents(user).filter(kind=kind).update(withdrawn_at=timezone.now()))


@dataclass(frozen=True)
class ConsentLine:
    """One line of the patient's consents page."""

    kind: ConsentKind
    label: str
    consent: Consent | None
    withdrawable: bool
    stops: str


def consent_overview(user: User) -> list[ConsentLine]:
    kinds = PATIENT_REQUIRED + (ConsentKind.SHARED_SPACE,) if user.is_patient else EVERY_ACCOUNT
    live = {consent.kind: consent for consent in live_consents(user)}
    return [
        ConsentLine(
            kind, str(WORDING[kind]), live.get(kind), kind in WITHDRAWABLE, str(WITHDRAWING_STOPS.get(kind, ""))
        )
        for kind in kinds
    ]
