"""The doctor's title: chosen by the doctor, by default the codice fiscale's sex; one display name."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from conftest import certification_uploads, identity, person, verified_client
from telemed.accounts import services
from telemed.accounts.models import DoctorTitle, Language, Specialty


def register(title: str = "", sex: str = "M"):
    first = "Elisa" if sex == "F" else "Luca"
    return services.doctor_register(
        person=person(first_name=first, last_name="Ferri"), identity=identity(first=first, last="Ferri", sex=sex),
        ordine_province="MI", ordine_number=f"9{len(title)}{sex}", partita_iva="12345678903", iban="IT60X0542811101000000123456",
        practice_address="Via Verdi 1", practice_city="Milano", practice_postcode="20121", practice_province="MI",
        specialties=list(Specialty.objects.filter(code="cardiologia")), languages=list(Language.objects.filter(code="it")),
        certifications=certification_uploads(), title=title,
    )  # fmt: skip


@pytest.mark.django_db
def test_the_title_follows_the_sex_unless_the_doctor_chooses(reference_data):
    assert register(sex="F").doctor_profile.title == DoctorTitle.DOTTSSA
    chosen = register(title=DoctorTitle.DOTT, sex="F")
    assert chosen.doctor_profile.title == DoctorTitle.DOTT
    with translation.override("it"):
        assert chosen.display_name == "Dott. Elisa Ferri"
        assert register(sex="M").display_name == "Dott. Luca Ferri"
    with translation.override("en"):
        assert chosen.display_name == "Dr. Elisa Ferri"


@pytest.mark.django_db
def test_an_unknown_title_is_refused_and_changes_nothing(reference_data):
    with pytest.raises(ValidationError):
        register(title="prof")
    assert not Specialty.objects.filter(doctors__user__last_name="Ferri").exists()


def test_the_doctor_changes_the_title_on_the_profile_page(make_doctor):
    doctor = make_doctor()
    assert doctor.doctor_profile.title == DoctorTitle.DOTT
    client = verified_client(doctor)
    data = {
        "title": DoctorTitle.DOTTSSA, "presentation": "", "specialties": ["cardiologia"], "languages": ["it"],
        "practice_address": "Via Dante 5", "practice_city": "Monza", "practice_postcode": "20900", "practice_province": "MB",
        "phone": "+39 039 123456", "iban": doctor.doctor_profile.iban,
    }  # fmt: skip
    assert client.post(reverse("accounts:profile_edit"), data).status_code == 302
    doctor.doctor_profile.refresh_from_db()
    assert doctor.doctor_profile.title == DoctorTitle.DOTTSSA
    bad = client.post(reverse("accounts:profile_edit"), {**data, "title": "prof"})
    assert bad.status_code == 400 and "title" in bad.context["form"].errors
    doctor.doctor_profile.refresh_from_db()
    assert doctor.doctor_profile.title == DoctorTitle.DOTTSSA
