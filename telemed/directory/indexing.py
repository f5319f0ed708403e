"""How a directory entry is made from the live data of accounts and billing (reads only).

``services`` writes what this module builds. Everything here works on batches of
doctors with a fixed number of queries per batch, so that indexing 100,000 doctors
takes seconds, not hours.
"""

import datetime
import re
import unicodedata
from decimal import Decimal

from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from telemed.accounts import selectors as accounts
from telemed.accounts.models import Certification, DoctorProfile
from telemed.billing import pricing
from telemed.billing import selectors as billing
from telemed.billing.models import FREE_KINDS, ServiceKind, Tariff
from telemed.directory.models import PRICE_FIELDS, DirectoryEntry
from telemed.lib.italy import PROVINCES

# The PostgreSQL text-search configuration the migrations create: Italian stemming after unaccent.
TEXT_SEARCH_CONFIG = "telemed_italian"

_NOT_WORD = re.compile(r"[\W_]+")


def normalise(value: str) -> str:
    """Lower case, accents removed, punctuation turned into spaces: "D'Amico Niccolò" → "d amico niccolo"."""
    value = unicodedata.normalize("NFKD", value)
    value = "".join(ch for ch in value if not unicodedata.combining(ch)).casefold()
    return " ".join(_NOT_WORD.sub(" ", value).split())


def codes_text(codes) -> str:
    """Codes delimited by spaces on both sides: ``" cardiologia ortopedia "``."""
    return " " + " ".join(sorted(codes)) + " " if codes else " "


# --- the source rows ------------------------------------------------------------------------------


def doctors_for_index(doctor_ids) -> QuerySet[DoctorProfile]:
    """The public doctors among ``doctor_ids``: the columns an entry needs, and their certifications."""
    return (
        accounts.public_doctors()
        .filter(pk__in=list(doctor_ids))
        .only(*DOCTOR_COLUMNS)
        # The model's ordering (kind, newest first) is what certification_summary expects.
        .prefetch_related(
            Prefetch(
                "certifications", queryset=Certification.objects.only("doctor_id", "kind", "status", "uploaded_at")
            )
        )
    )


DOCTOR_COLUMNS = (
    "slug", "practice_city", "practice_province", "available_for_second_opinion", "structure__name",
    "user__first_name", "user__last_name", "user__is_active",
)  # fmt: skip


def specialties_of(doctor_ids) -> dict[int, list[tuple[str, str, str]]]:
    """(code, Italian name, English name) of each doctor's specialties, as plain tuples."""
    found: dict[int, list[tuple[str, str, str]]] = {}
    rows = DoctorProfile.specialties.through.objects.filter(doctorprofile_id__in=list(doctor_ids)).values_list(
        "doctorprofile_id", "specialty__code", "specialty__name_it", "specialty__name_en"
    )
    for doctor_id, *specialty in rows:
        found.setdefault(doctor_id, []).append(tuple(specialty))
    return found


def languages_of(doctor_ids) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    rows = DoctorProfile.languages.through.objects.filter(doctorprofile_id__in=list(doctor_ids)).values_list(
        "doctorprofile_id", "language__code"
    )
    for doctor_id, code in rows:
        found.setdefault(doctor_id, []).append(code)
    return found


def offered_tariffs(doctor_ids) -> dict[int, list[tuple[str, int | None, Decimal]]]:
    """(kind, duration, fee) of the tariffs in force and offered, per doctor: billing's
    ``tariffs_offered_by`` for a whole batch in one query.

    The test suite checks that the prices built from it equal billing's ``pricing.price_list``.
    """
    found: dict[int, list[tuple[str, int | None, Decimal]]] = {}
    rows = Tariff.objects.filter(doctor_id__in=list(doctor_ids), valid_to__isnull=True, offered=True).values_list(
        "doctor_id", "kind", "duration_minutes", "fee"
    )
    for doctor_id, *tariff in rows:
        found.setdefault(doctor_id, []).append(tuple(tariff))
    return found


def patient_fee_rules() -> dict[str, pricing.FeeRules]:
    """The fee rules in force now per kind of service, without any doctor's donation.

    The donation is the doctor's share and never changes what the patient pays, so
    one set of rules per kind prices every doctor's services for the patient.
    """
    return {kind: pricing.fee_rules_for(doctor=None, kind=kind) for kind in ServiceKind.values}


def rules_changed_at() -> datetime.datetime | None:
    """When the newest fee rule that changes a patient's total came into force (platform fees, VAT)."""
    moments = [fee.valid_from for fee in billing.platform_fees_current()]
    vat = billing.vat_setting_at()
    if vat is not None:
        moments.append(vat.valid_from)
    return max(moments) if moments else None


# --- the entry ------------------------------------------------------------------------------------


def _patient_prices(tariffs, rules: dict[str, pricing.FeeRules]) -> dict[str, Decimal]:
    """The lowest patient total per kind (video: over its durations), as the pricing module computes it."""
    prices: dict[str, Decimal] = {}
    for kind, duration, fee in tariffs:
        total = pricing.price(fee=fee, rules=rules[kind], kind=kind, duration_minutes=duration).patient_total
        field = PRICE_FIELDS[kind]
        prices[field] = min(total, prices.get(field, total))
    return prices


def build_entry(
    doctor: DoctorProfile, specialties, languages, tariffs, rules, now: datetime.datetime
) -> DirectoryEntry:
    user = doctor.user
    first, last = user.first_name, user.last_name
    structure = doctor.structure.name if doctor.structure_id else ""
    province_name = PROVINCES.get(doctor.practice_province, "")
    specialty_text = " ".join(f"{name_it} {name_en}" for _, name_it, name_en in specialties)
    place_text = " ".join(part for part in (doctor.practice_city, province_name, structure) if part)
    prices = _patient_prices(tariffs, rules)
    paid = [prices[field] for kind, field in PRICE_FIELDS.items() if kind not in FREE_KINDS and field in prices]
    return DirectoryEntry(
        doctor_id=doctor.pk,
        slug=doctor.slug,
        display_name=f"{first} {last}",
        title=doctor.title,
        name_text=normalise(f"{first} {last}"),
        sort_name=normalise(f"{last} {first}"),
        search_text=(
            ""
            if connection.vendor == "postgresql"
            else " " + normalise(f"{first} {last} {specialty_text} {place_text} {doctor.practice_province}") + " "
        ),
        specialty_text=specialty_text,
        place_text=place_text,
        specialty_codes=codes_text(code for code, _, _ in specialties),
        language_codes=codes_text(languages),
        city=doctor.practice_city,
        city_key=normalise(doctor.practice_city),
        province=doctor.practice_province,
        structure_name=structure,
        second_opinion=doctor.available_for_second_opinion,
        verified=accounts.doctor_is_verified(doctor),
        price_from=min(paid) if paid else None,
        refreshed_at=now,
        **prices,
    )


def build_entries(doctor_ids, rules: dict[str, pricing.FeeRules] | None = None) -> list[DirectoryEntry]:
    """The entries of the public doctors among ``doctor_ids``, in six queries whatever their number."""
    doctor_ids = list(doctor_ids)
    rules = rules or patient_fee_rules()
    specialties, languages = specialties_of(doctor_ids), languages_of(doctor_ids)
    tariffs = offered_tariffs(doctor_ids)
    now = timezone.now()
    return [
        build_entry(
            doctor, specialties.get(doctor.pk, []), languages.get(doctor.pk, []), tariffs.get(doctor.pk, []), rules, now
        )
        for doctor in doctors_for_index(doctor_ids)
    ]


def vocabulary(entries: list[DirectoryEntry]) -> tuple[set[str], set[str]]:
    """The words a mistyped search word may be corrected to: those of names, and the others (places, specialties)."""
    names: set[str] = set()
    others: set[str] = set()
    for entry in entries:
        names.update(entry.name_text.split())
        others.update(normalise(f"{entry.specialty_text} {entry.place_text}").split())

    def usable(words: set[str]) -> set[str]:
        return {word for word in words if 1 < len(word) <= 100 and not word.isdigit()}

    return usable(names), usable(others - names)


# --- what changed -------------------------------------------------------------------------------------


def doctors_changed_since(since: datetime.datetime) -> set[int]:
    """Doctors whose profile, tariffs or certifications changed after ``since``.

    The timestamps: the profile's ``updated_at`` (every save) and ``created_at``, the
    account's ``date_joined``, a tariff's ``valid_from``/``valid_to`` (billing never edits
    a tariff in place: a change closes one row and opens another), a certification's
    upload and review.
    """
    ids = set(
        DoctorProfile.objects.filter(
            Q(updated_at__gt=since) | Q(created_at__gt=since) | Q(user__date_joined__gt=since)
        ).values_list("pk", flat=True)
    )
    ids.update(
        Tariff.objects.filter(Q(valid_from__gt=since) | Q(valid_to__gt=since)).values_list("doctor_id", flat=True)
    )
    ids.update(
        Certification.objects.filter(Q(uploaded_at__gt=since) | Q(reviewed_at__gt=since)).values_list(
            "doctor_id", flat=True
        )
    )
    return ids


def doctors_drifted() -> set[int]:
    """Doctors whose entry disagrees with a plain column of the live data, or who have none.

    This catches what leaves no timestamp: a renamed account, a changed title, a doctor leaving or
    joining a structure, a renamed structure, a deactivated account (whose entry is
    then removed). One query over all doctors, joined on primary keys.
    """
    live = DoctorProfile.objects.filter(user__is_active=True).annotate(
        live_name=Concat("user__first_name", Value(" "), "user__last_name"),
        live_structure=Coalesce("structure__name", Value("")),
    )
    ids = set(
        live.filter(
            Q(directory_entry__isnull=True)
            | ~Q(directory_entry__display_name=F("live_name"))
            | ~Q(directory_entry__title=F("title"))
            | ~Q(directory_entry__structure_name=F("live_structure"))
            | ~Q(directory_entry__slug=F("slug"))
            | ~Q(directory_entry__city=F("practice_city"))
            | ~Q(directory_entry__province=F("practice_province"))
            | ~Q(directory_entry__second_opinion=F("available_for_second_opinion"))
        ).values_list("pk", flat=True)
    )
    ids.update(DirectoryEntry.objects.filter(doctor__user__is_active=False).values_list("doctor_id", flat=True))
    return ids


def least_recently_refreshed(limit: int) -> list[int]:
    """The entries refreshed longest ago: the rolling refresh that bounds any staleness left."""
    return list(
        DirectoryEntry.objects.order_by("refreshed_at", "doctor_id").values_list("doctor_id", flat=True)[:limit]
    )
