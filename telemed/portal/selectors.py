"""What each role's dashboard shows, gathered from every app's selectors (portal is above them all).

Every list is cut to a few rows and fetched with its related rows in the same query, so a
dashboard costs the same number of queries however much work is waiting.
"""

from dataclasses import dataclass, field

from django.urls import reverse
from django.utils.translation import gettext as _

from telemed.accounts import selectors as accounts
from telemed.billing import selectors as billing
from telemed.consults import selectors as consults
from telemed.messaging import selectors as messaging
from telemed.signatures import selectors as signatures
from telemed.visits import selectors as visits

ROWS = 8


@dataclass(frozen=True)
class DoctorWork:
    consults: list = field(default_factory=list)  # open consults, overdue first, then by deadline
    consults_total: int = 0
    today: list = field(default_factory=list)  # today's visits
    reports_owed: list = field(default_factory=list)  # visits whose call took place, report not signed
    answers_to_sign: list = field(default_factory=list)  # consults taken up whose answer is a draft
    proformas_to_validate: int = 0
    unread_messages: int = 0

    @property
    def overdue(self) -> int:
        return sum(1 for consult in self.consults if consult.is_overdue)


def _cut(queryset) -> tuple[list, int]:
    """The first rows and the total, in one query while there are few (and two when there are more)."""
    rows = list(queryset[: ROWS + 1])
    total = len(rows) if len(rows) <= ROWS else queryset.count()
    return rows[:ROWS], total


def doctor_work(user) -> DoctorWork:
    doctor = user.doctor_profile
    open_consults, consults_total = _cut(consults.consults_by_deadline_for_doctor(user))
    return DoctorWork(
        consults=open_consults,
        consults_total=consults_total,
        today=list(visits.visits_of_day(user)[:ROWS]),
        reports_owed=list(visits.awaiting_report_of(user)[:ROWS]),
        answers_to_sign=[c for c in open_consults if c.report_id and c.report.is_draft],
        proformas_to_validate=billing.proformas_to_validate(doctor).count(),
        unread_messages=messaging.unread_total(user),
    )


@dataclass(frozen=True)
class PatientOverview:
    next_visit: object = None
    room_open: bool = False
    to_pay: list = field(default_factory=list)


def patient_overview(user) -> PatientOverview:
    next_visit = visits.next_visit_of(user)
    return PatientOverview(
        next_visit=next_visit,
        room_open=next_visit is not None and visits.room_is_open(next_visit),
        to_pay=list(billing.payment_requests_to_pay(user)[:ROWS]),
    )


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    hint: str
    url: str
    done: bool


def doctor_first_steps(user) -> list[Step]:
    """What a new doctor sets up before patients can ask or book anything: shown on the dashboard,
    each step done or not, until all are done. Each answer comes from the app that owns it."""
    doctor = user.doctor_profile
    paid = [tariff for tariff in billing.tariffs_offered_by(doctor) if tariff.kind != "info"]
    return [
        Step("tariffs", _("Price your services and response times"),
             _("Consults need a price and a response time, video visits a price per length."),
             reverse("billing:tariffs"), bool(paid)),
        Step("agenda", _("Open your agenda"),
             _("The weekly hours in which patients can book a video visit."),
             reverse("visits:agenda"), visits.availability_set(user)),
        Step("signing", _("Set up the signing app"),
             _("Reports and prescriptions are signed with a code from your phone."),
             reverse("signatures:device"), signatures.signing_status(user).can_sign),
        Step("donation", _("Choose your donation"),
             _("A share of your fees for a charity, or none: your choice is shown on your profile."),
             reverse("billing:tariffs") + "#donation", billing.donation_chosen(doctor)),
        Step("certifications", _("Certifications verified"),
             _("Upload your degree and Ordine registration and your insurance: telemed's staff verify them."),
             "#certifications", accounts.doctor_is_verified(doctor)),
    ]  # fmt: skip
