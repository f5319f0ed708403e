"""Doctors made quickly for the directory's tests: rows written directly (no certification files,
no password hashing), tariffs set through billing's own service."""

import datetime
import itertools
from decimal import Decimal

import pytest
from django.utils.text import slugify

from telemed.accounts.models import (
    Certification,
    CertificationKind,
    DoctorProfile,
    Language,
    Role,
    Specialty,
    Structure,
    User,
    VerificationStatus,
)
from telemed.billing import tariffs
from telemed.directory import services

_numbers = itertools.count(1)


@pytest.fixture
def doctor_factory(db, reference_data):
    def make(
        first: str = "Marco",
        last: str = "Bianchi",
        *,
        specialties: tuple[str, ...] = ("cardiologia",),
        languages: tuple[str, ...] = ("it",),
        city: str = "Milano",
        province: str = "MI",
        second_opinion: bool = True,
        verified: bool = False,
        fees: dict | None = None,
        structure: Structure | None = None,
        presentation: str = "",
        index: bool = True,
    ) -> DoctorProfile:
        n = next(_numbers)
        user = User.objects.create(
            email=f"doc{n}@example.test", first_name=first, last_name=last, role=Role.DOCTOR, password="!"
        )
        doctor = DoctorProfile.objects.create(
            user=user, slug=slugify(f"{first} {last} {n}"), codice_fiscale=f"TSTDOC{n:010d}",
            birth_date=datetime.date(1975, 1, 1), sex="M", phone="+39 347 000 0000", ordine_province=province,
            ordine_number=str(70000 + n), partita_iva="12345670017", iban="IT60X0542811101000000123456",
            practice_address="Via Roma 1", practice_city=city, practice_postcode="20121", practice_province=province,
            available_for_second_opinion=second_opinion, structure=structure, presentation=presentation,
        )  # fmt: skip
        doctor.specialties.set(Specialty.objects.filter(code__in=specialties))
        doctor.languages.set(Language.objects.filter(code__in=languages))
        status = VerificationStatus.VERIFIED if verified else VerificationStatus.PENDING
        for kind in CertificationKind:
            Certification.objects.create(
                doctor=doctor, kind=kind, file=f"private/certifications/{n}/{kind}", original_name=f"{kind}.pdf",
                content_type="application/pdf", size=100, status=status,
            )  # fmt: skip
        for offer, fee in (fees if fees is not None else {"info": "0", "base": "40.00"}).items():
            kind, duration = offer, None
            if offer.startswith("video"):
                kind, duration = "video", int(offer.split("-")[1])
            response = {
                "info": (2, "working_days"),
                "base": (72, "hours"),
                "imaging": (5, "working_days"),
                "priority": (24, "hours"),
            }
            value, unit = response.get(kind, (None, None))
            tariffs.tariff_set(
                actor=user, doctor=doctor, kind=kind, fee=Decimal(fee), duration_minutes=duration,
                response_value=value, response_unit=unit,
            )  # fmt: skip
        if index:
            services.directory_entry_refresh(doctor=doctor)
        return doctor

    return make
