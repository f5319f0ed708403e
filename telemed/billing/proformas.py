"""From a delivered service to a proforma (avviso di parcella).

A paid service that consults or visits delivered is registered once (by its source key) with
the breakdown the patient accepted; "Emetti fattura" drafts a proforma for each service not
billed yet. A proforma moves only through ``proforma_transition``: draft → awaiting payment or
excluded; awaiting payment → paid or cancelled. Validating drafts opens their payment requests
(``payments.proformas_validate``).
"""

import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import DoctorProfile, User
from telemed.billing import pricing, selectors
from telemed.billing.acting import BillingError, aware, check_doctor
from telemed.billing.models import (
    BillableService,
    Proforma,
    ProformaStatus,
)


@transaction.atomic
def billable_service_register(
    *,
    doctor: DoctorProfile,
    patient: User,
    kind: str,
    duration_minutes: int | None,
    breakdown: pricing.Breakdown,
    accepted_at: datetime.datetime,
    source_label: str,
    source_url: str = "",
    source_key: str | None = None,
    delivered_at: datetime.datetime | None = None,
) -> BillableService | None:
    """A paid service was delivered: keep the breakdown the patient accepted (amounts and time);
    it waits in the doctor's "services to bill" until their next "Emetti fattura".

    Called by the app that delivered the service (consults, visits), which has already
    checked who did what. ``source_key`` (e.g. ``"consult:42"``) makes a repeated call
    return the service already registered instead of a second one. A free service (an Info
    request, a fee of 0) has nothing to bill: None, and nothing is stored.
    """
    if source_key:
        existing = BillableService.objects.filter(source_key=source_key).first()
        if existing is not None:
            return existing
    if not isinstance(doctor, DoctorProfile) or not patient.is_patient:
        raise ValueError("a billable service is delivered by a doctor to a patient")
    aware(accepted_at, "accepted_at")
    delivered_at = aware(delivered_at, "delivered_at") if delivered_at is not None else timezone.now()
    if accepted_at > delivered_at:
        raise ValueError("the patient accepted the price after the delivery")
    if breakdown.kind != kind or breakdown.duration_minutes != duration_minutes:
        raise ValueError("the breakdown is not the price of this service")
    if breakdown.is_free or breakdown.patient_total <= 0:
        return None  # nothing to bill: callers deliver free services through the same path
    breakdown.split()  # refuses a breakdown whose lines do not add up to its total
    return BillableService.objects.create(
        doctor=doctor,
        patient=patient,
        kind=kind,
        duration_minutes=duration_minutes,
        breakdown=breakdown.to_dict(),
        patient_total=breakdown.patient_total,
        accepted_at=accepted_at,
        delivered_at=delivered_at,
        source_label=source_label[:200],
        source_url=source_url[:500],
        source_key=source_key or None,
    )


PROFORMA_MOVES: dict[str, set[str]] = {
    ProformaStatus.DRAFT: {ProformaStatus.EXCLUDED, ProformaStatus.AWAITING_PAYMENT},
    ProformaStatus.AWAITING_PAYMENT: {ProformaStatus.PAID, ProformaStatus.CANCELLED},
}


def proforma_transition(proforma: Proforma, to: str) -> Proforma:
    """The only place a proforma changes state; an illegal move is refused with a clear message."""
    if to not in PROFORMA_MOVES.get(proforma.status, set()):
        raise BillingError(
            _("Proforma %(number)s is %(status)s: it cannot become %(to)s.")
            % {
                "number": proforma.display_number,
                "status": proforma.get_status_display().lower(),
                "to": ProformaStatus(to).label.lower(),
            }
        )
    proforma.status = to
    proforma.save(update_fields=["status", "changed_at"])
    return proforma


@transaction.atomic
def proformas_draft(*, actor: User, service_ids: list[int] | None = None) -> list[Proforma]:
    """ "Emetti fattura": a draft proforma for each delivered service not billed yet (or for the
    services named), for the doctor to review. A named service that is already billed is refused."""
    doctor = check_doctor(actor)
    services = selectors.services_to_bill(doctor)
    if service_ids is not None:
        wanted = set(service_ids)
        services = services.filter(pk__in=wanted)
        found = set(services.values_list("pk", flat=True))
        if found != wanted:
            raise BillingError(_("Some of these services are already billed (or are not yours): nothing was drafted."))
    drafted = []
    for service in services.select_related("patient"):
        try:
            with transaction.atomic():
                drafted.append(
                    Proforma.objects.create(
                        service=service, doctor=doctor, patient=service.patient, amount=service.patient_total
                    )
                )
        except IntegrityError:
            # Drafted meanwhile by a concurrent "Emetti fattura": the constraint kept it single.
            if service_ids is not None:
                raise BillingError(_("This service is already billed.")) from None
    return drafted
