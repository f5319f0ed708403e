"""Asking for another date: turns, wrong parties refused, an agreed date becomes a booking."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from telemed.notifications.models import Notification
from telemed.visits import services
from telemed.visits.models import Booking, DateProposal, ProposalStatus
from telemed.visits.tests.conftest import rome, total_for

pytestmark = pytest.mark.django_db


def test_negotiation_until_agreed_becomes_a_booking(visit_doctor, visit_patient, make_patient):
    proposal = services.proposal_create(
        actor=visit_patient,
        doctor=visit_doctor,
        start=rome(4, 21),
        message="Dopo il lavoro?",
        accepted_total=total_for(visit_doctor),
    )
    assert Notification.objects.filter(recipient=visit_doctor, kind="visit_proposal").count() == 1
    # The patient cannot answer their own request; a stranger cannot touch it.
    with pytest.raises(ValidationError, match="other side's turn"):
        services.proposal_reply(actor=visit_patient, proposal=proposal, action="accept")
    with pytest.raises(PermissionDenied):
        services.proposal_reply(actor=make_patient(), proposal=proposal, action="accept")
    services.proposal_reply(
        actor=visit_doctor, proposal=proposal, action="propose", start=rome(4, 7), message="Alle 7?"
    )
    assert Notification.objects.filter(recipient=visit_patient, kind="visit_proposal").count() == 1
    with pytest.raises(ValidationError, match="Only the doctor"):
        services.proposal_reply(actor=visit_patient, proposal=proposal, action="reject")
    with pytest.raises(ValidationError, match="past"):
        services.proposal_reply(actor=visit_patient, proposal=proposal, action="propose", start=rome(-2, 7))
    services.proposal_reply(actor=visit_patient, proposal=proposal, action="accept", message="Va bene")
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.AGREED and proposal.booking.start == rome(4, 7)
    assert [s.action for s in proposal.steps.all()] == ["propose", "propose", "accept"]
    with pytest.raises(ValidationError, match="closed"):
        services.proposal_reply(actor=visit_doctor, proposal=proposal, action="reject")
    assert Booking.objects.count() == 1


def test_rejection_and_bad_requests_store_nothing(visit_doctor, visit_patient):
    total = total_for(visit_doctor)
    with pytest.raises(ValidationError):
        services.proposal_create(
            actor=visit_patient, doctor=visit_doctor, start=rome(-1, 10), message="x", accepted_total=total
        )
    with pytest.raises(ValidationError):
        services.proposal_create(
            actor=visit_patient, doctor=visit_doctor, start=rome(2, 10), message="  ", accepted_total=total
        )
    with pytest.raises(PermissionDenied):
        services.proposal_create(
            actor=visit_doctor, doctor=visit_doctor, start=rome(2, 10), message="x", accepted_total=total
        )
    assert not DateProposal.objects.exists()
    proposal = services.proposal_create(
        actor=visit_patient, doctor=visit_doctor, start=rome(2, 10), message="x", accepted_total=total
    )
    with pytest.raises(ValidationError):
        services.proposal_reply(actor=visit_doctor, proposal=proposal, action="explode")
    services.proposal_reply(actor=visit_doctor, proposal=proposal, action="reject", message="Sono in ferie")
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.REJECTED and not Booking.objects.exists()
