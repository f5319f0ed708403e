"""The public directory: searching doctors and reading a profile, open to everyone."""

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from telemed.accounts import selectors as accounts
from telemed.accounts.models import DoctorProfile
from telemed.lib.text import clean_search_text

MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class DoctorSearch:
    text: str = ""
    specialty: str = ""
    city: str = ""


def doctor_search(search: DoctorSearch) -> QuerySet[DoctorProfile]:
    doctors = accounts.public_doctors().prefetch_related("specialties")
    text = clean_search_text(search.text, MAX_QUERY_LENGTH)
    for word in text.split()[:8]:
        doctors = doctors.filter(
            Q(user__first_name__icontains=word) | Q(user__last_name__icontains=word) | Q(specialties__name_it__icontains=word)
        )
    if specialty := clean_search_text(search.specialty, 60):
        doctors = doctors.filter(specialties__code=specialty)
    if city := clean_search_text(search.city, MAX_QUERY_LENGTH):
        doctors = doctors.filter(Q(practice_city__iexact=city) | Q(practice_province__iexact=city))
    return doctors.distinct().order_by("user__last_name", "user__first_name", "pk")


def doctor_profile(slug: str) -> dict:
    doctor = accounts.doctor_public_profile(slug)
    certifications = accounts.certification_summary(doctor)
    return {
        "doctor": doctor,
        "certifications": certifications,
        "verified": all(item["status"] == "verified" for item in certifications),
    }
