"""The dashboards show the work, gathered from every app in a number of queries that does not grow
with the work."""

import datetime
import itertools
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import log_in
from telemed.billing import payments, pricing, proformas, tariffs
from telemed.consults import services as consults
from telemed.consults.models import Consult
from telemed.consults.tests.conftest import offer_consults
from telemed.visits.models import Booking

pytestmark = pytest.mark.django_db
_minutes = itertools.count(1)
# The longest a dashboard test takes on a loaded machine: it must not span midnight in Rome, or
# the visits it made "today" are yesterday's when the dashboard is asked.
ONE_TEST = datetime.timedelta(minutes=3)


@pytest.fixture
def one_day_in_rome():
    """Wait out the last minutes of the day in Rome, so that the test starts and ends on one day."""
    now = timezone.localtime()
    midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if midnight - now < ONE_TEST:
        time.sleep((midnight - now).total_seconds() + 1)


def _consult(doctor, patient) -> Consult:
    draft = consults.ConsultDraft(
        kind="base", question="Ho la pressione alta.", accepted_terms=True, idempotency_key=uuid.uuid4()
    )
    consult, _created = consults.consult_request(actor=patient, doctor=doctor.doctor_profile, draft=draft)
    return consult


def _visit(doctor, patient, start, **fields) -> Booking:
    return Booking.objects.create(
        doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30), duration_minutes=30,
        accepted_at=timezone.now(), **fields,
    )  # fmt: skip


def _bill(doctor, patient, *, validate: bool):
    breakdown = pricing.price_service(doctor=doctor.doctor_profile, kind="base", duration=None)
    service = proformas.billable_service_register(
        doctor=doctor.doctor_profile, patient=patient, kind="base", duration_minutes=None, breakdown=breakdown,
        accepted_at=timezone.now(), source_label="Consulto", source_url="/consults/1/", source_key=f"test:{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    proforma = proformas.proformas_draft(actor=doctor, service_ids=[service.pk])[0]
    if validate:
        payments.proformas_validate(actor=doctor, include=[proforma.pk])


def _doctor_work(doctor, patient, count: int) -> None:
    now = timezone.now()
    for _ in range(count):
        consult = _consult(doctor, patient)
        if consult.pk % 2:  # every other one is overdue
            Consult.objects.filter(pk=consult.pk).update(deadline=now - datetime.timedelta(hours=1))
        today = timezone.localtime(now).replace(hour=0, minute=0) + datetime.timedelta(minutes=next(_minutes))
        _visit(doctor, patient, today)
        _visit(
            doctor, patient, now - datetime.timedelta(days=2, minutes=next(_minutes)), admitted_at=now, status="ended"
        )
        _bill(doctor, patient, validate=False)


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("portal:dashboard")).status_code == 200
    return len(queries)


def test_the_doctors_dashboard_shows_the_work_in_a_fixed_number_of_queries(
    one_day_in_rome, client, make_doctor, make_patient, django_assert_max_num_queries
):
    doctor, patient = make_doctor(), make_patient()
    offer_consults(doctor)
    log_in(client, doctor)
    _doctor_work(doctor, patient, 1)
    baseline = _queries(client)
    _doctor_work(doctor, patient, 12)
    with django_assert_max_num_queries(baseline + 1):  # +1: the total, once more rows wait than are shown
        response = client.get(reverse("portal:dashboard"))
    work = response.context["work"]
    assert work.consults_total == 13 and len(work.consults) == 8
    deadlines = [c.deadline for c in work.consults]
    assert deadlines == sorted(deadlines) and work.consults[0].is_overdue  # overdue first
    assert len(work.reports_owed) == 8 and len(work.today) == 8 and work.proformas_to_validate == 13
    assert b'data-testid="work-consults"' in response.content


def test_the_patients_dashboard_shows_the_next_visit_and_what_to_pay_in_a_fixed_number_of_queries(
    client, make_doctor, make_patient, django_assert_max_num_queries
):
    doctor, patient = make_doctor(), make_patient()
    offer_consults(doctor)
    log_in(client, patient)
    _visit(doctor, patient, timezone.now() + datetime.timedelta(minutes=5))
    _bill(doctor, patient, validate=True)
    baseline = _queries(client)
    for n in range(6):
        _visit(doctor, patient, timezone.now() + datetime.timedelta(days=n + 1))
        _bill(doctor, patient, validate=True)
    with django_assert_max_num_queries(baseline):
        response = client.get(reverse("portal:dashboard"))
    overview = response.context["overview"]
    assert overview.room_open and len(overview.to_pay) == 7
    assert b'data-testid="enter-waiting-room"' in response.content
    assert all(request.amount > Decimal("0") for request in overview.to_pay)


def test_a_new_doctor_has_first_steps_and_a_profile_that_offers_only_what_can_be_booked(
    client, make_doctor, make_patient
):
    import datetime as dt

    from telemed.visits import availability as visit_availability

    doctor, patient = make_doctor(), make_patient()
    log_in(client, doctor)
    steps = client.get(reverse("portal:dashboard")).context["first_steps"]
    assert [(step.key, step.done) for step in steps] == [
        ("tariffs", False), ("agenda", False), ("signing", False), ("donation", False), ("certifications", False)
    ]  # fmt: skip
    profile = reverse("directory:profile", args=[doctor.doctor_profile.slug])
    log_in(client, patient)
    assert b'data-testid="book-video-visit"' not in client.get(profile).content
    tariffs.tariff_set(
        actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("40.00"), duration_minutes=30
    )
    assert b'data-testid="book-video-visit"' not in client.get(profile).content  # priced, but no hours open
    visit_availability.availability_rule_add(actor=doctor, weekday=2, start=dt.time(9), end=dt.time(12))
    assert b'data-testid="book-video-visit"' in client.get(profile).content
    log_in(client, doctor)
    steps = client.get(reverse("portal:dashboard")).context["first_steps"]
    assert [step.done for step in steps] == [True, True, False, False, False]
