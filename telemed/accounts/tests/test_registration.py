"""Registration of every role through the real pages: valid data gets an account at once,
bad input gets a clear message and stores nothing."""

import datetime
import io
import os

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD, image_bytes
from telemed.accounts.models import Certification, DoctorProfile, PatientProfile, Role, Structure, User
from telemed.portal.management.commands.load_demo import demo_codice_fiscale, demo_iban, demo_partita_iva, demo_pdf

pytestmark = pytest.mark.django_db

BIRTH = datetime.date(1985, 12, 10)
CF = demo_codice_fiscale("Rossi", "Maria", BIRTH, "F", "F205")


def patient_data(**overrides):
    data = {
        "first_name": "Maria",
        "last_name": "Rossi",
        "codice_fiscale": CF.lower(),
        "birth_date": BIRTH.isoformat(),
        "sex": "F",
        "phone": "+39 333 123 4567",
        "email": "Maria.Rossi@Example.test",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "accept_terms": "on",
        "consent_health_data": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def doctor_data(**overrides):
    data = patient_data(email="dott.rossi@example.test")
    data.update(
        {
            "specialties": ["cardiologia"],
            "ordine_province": "MI",
            "ordine_number": "12345",
            "partita_iva": demo_partita_iva(4242),
            "iban": demo_iban(42),
            "practice_address": "Via Manzoni 3",
            "practice_city": "Milano",
            "practice_postcode": "20121",
            "practice_province": "MI",
            "languages": ["it", "en"],
            "presentation": "Cardiologa.",
        }
    )
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def upload(name: str, stream: io.BytesIO):
    stream.name = name
    stream.seek(0)
    return stream


def certification_files(degree=None, insurance=None):
    return {
        "certification_degree_albo": degree or upload("laurea.pdf", demo_pdf("laurea")),
        "certification_insurance": insurance or upload("polizza.png", image_bytes("PNG")),
    }


def stored_files() -> int:
    root = default_storage.location
    return sum(len(files) for _, _, files in os.walk(root)) if os.path.isdir(root) else 0


@pytest.fixture(autouse=True)
def media_in_tmp(files_in_tmp):
    return files_in_tmp


def test_patient_registers_and_is_logged_in_at_once(client):
    response = client.post(reverse("accounts:register_patient"), patient_data())
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "maria.rossi@example.test"
    assert user.role == Role.PATIENT and not user.email_verified
    assert user.patient_profile.codice_fiscale == CF
    assert user.password.startswith("argon2")
    dashboard = client.get(reverse("portal:dashboard"))
    assert dashboard.status_code == 200
    assert "maria.rossi@example.test" in dashboard.content.decode()  # the verify-your-e-mail banner


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"codice_fiscale": CF[:-1] + ("A" if CF[-1] != "A" else "B")}, "codice_fiscale", "non è valido"),
        ({"birth_date": "1985-12-11"}, "codice_fiscale", "data di nascita"),
        ({"sex": "M"}, "codice_fiscale", "sesso"),
        ({"password2": "something-else-entirely"}, "password2", "diverse"),
        ({"password1": "12345678901", "password2": "12345678901"}, "password1", "numerica"),
        ({"password1": "short", "password2": "short"}, "password1", "troppo corta"),
        ({"first_name": None}, "first_name", "obbligatorio"),
        ({"accept_terms": None}, "accept_terms", "accettare"),
        ({"birth_date": "2999-01-01"}, "birth_date", "data di nascita reale"),
        ({"birth_date": "30/02/1985"}, "birth_date", "data valida"),
        ({"email": "not-an-email"}, "email", "indirizzo email valido"),
        ({"phone": "call me"}, "phone", "numero di telefono"),
        ({"codice_fiscale": "x" * 5000}, "codice_fiscale", "più di 20 caratteri"),
    ],
)
def test_bad_patient_input_gets_a_translated_message_and_stores_nothing(client, overrides, field, message):
    response = client.post(reverse("accounts:register_patient"), patient_data(**overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field]).lower() or message in " ".join(errors[field]), errors[field]
    assert User.objects.count() == 0 and PatientProfile.objects.count() == 0


def test_duplicate_email_is_refused_case_insensitively(client, make_patient):
    make_patient(email="maria.rossi@example.test")
    response = client.post(reverse("accounts:register_patient"), patient_data(email="MARIA.ROSSI@example.test"))
    assert response.status_code == 400
    assert "Esiste già un account" in " ".join(response.context["form"].errors["email"])
    assert User.objects.count() == 1


def test_english_messages_when_english_is_chosen(client):
    client.cookies["django_language"] = "en"
    response = client.post(reverse("accounts:register_patient"), patient_data(sex="M"))
    assert "does not match the sex" in " ".join(response.context["form"].errors["codice_fiscale"])


def test_doctor_registers_online_at_once_with_certifications_pending(client, reference_data):
    response = client.post(reverse("accounts:register_doctor"), {**doctor_data(), **certification_files()})
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    assert response["Location"] == reverse("accounts:totp_setup")
    doctor = DoctorProfile.objects.get()
    assert doctor.user.role == Role.DOCTOR
    assert [s.code for s in doctor.specialties.all()] == ["cardiologia"]
    assert sorted(doctor.certifications.values_list("kind", "status", "content_type")) == [
        ("degree_albo", "pending", "application/pdf"),
        ("insurance", "pending", "image/png"),
    ]
    profile = Client().get(reverse("directory:profile", args=[doctor.slug]))  # an anonymous visitor
    assert profile.status_code == 200
    assert "In attesa di verifica" in profile.content.decode()


def html_disguised_as_pdf():
    return upload("laurea.pdf", io.BytesIO(b"<html><script>alert(1)</script></html>"))


def fake_pdf_header():
    return upload("laurea.pdf", io.BytesIO(b"%PDF-1.7\n" + b"garbage" * 100))


def oversized_pdf():
    pdf = demo_pdf("big")
    return upload("laurea.pdf", io.BytesIO(pdf.getvalue() + b"\n%" + b"0" * (11 * 1024 * 1024)))


@pytest.mark.parametrize(
    "overrides, files, field, message",
    [
        ({"partita_iva": "12345670018"}, {}, "partita_iva", "partita IVA non è valida"),
        ({"iban": "IT61X0542811101000000123456"}, {}, "iban", "IBAN non è valido"),
        ({"specialties": ["not-a-specialty"]}, {}, "specialties", "opzione valida"),
        ({"specialties": None}, {}, "specialties", "almeno una specialità"),
        ({"languages": None}, {}, "languages", "almeno una lingua"),
        ({"practice_postcode": "2012"}, {}, "practice_postcode", "5 cifre"),
        ({"ordine_province": "XX"}, {}, "ordine_province", "opzione valida"),
        ({}, {"degree": html_disguised_as_pdf}, "certification_degree_albo", "non è un PDF o un'immagine leggibile"),
        ({}, {"degree": fake_pdf_header}, "certification_degree_albo", "non è un PDF o un'immagine leggibile"),
        ({}, {"insurance": oversized_pdf}, "certification_insurance", "più grande di 10 MB"),
        ({}, {"insurance": "missing"}, "certification_insurance", "obbligatoria"),
    ],
)
def test_bad_doctor_input_gets_a_translated_message_and_stores_nothing(
    client, reference_data, overrides, files, field, message
):
    before = stored_files()
    data = {**doctor_data(**overrides), **certification_files(**{k: v() for k, v in files.items() if v != "missing"})}
    for kind, value in files.items():
        if value == "missing":
            data.pop(f"certification_{'degree_albo' if kind == 'degree' else kind}")
    response = client.post(reverse("accounts:register_doctor"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    text = " ".join(errors.get(field if field else "__all__", []))
    assert message in text, errors
    assert User.objects.count() == 0 and Certification.objects.count() == 0
    assert stored_files() == before


def test_duplicate_ordine_registration_is_refused_and_files_are_removed(client, reference_data, make_doctor):
    existing = make_doctor()
    before = stored_files()
    data = doctor_data(
        ordine_province=existing.doctor_profile.ordine_province, ordine_number=existing.doctor_profile.ordine_number
    )
    response = client.post(reverse("accounts:register_doctor"), {**data, **certification_files()})
    assert response.status_code == 400
    assert "già usata" in " ".join(response.context["form"].errors["ordine_number"])
    assert User.objects.count() == 1 and stored_files() == before


def test_structure_manager_registers_a_structure(client):
    data = patient_data(email="direzione@clinica.test")
    data.update(
        {
            "structure_name": "Clinica Villa Verde",
            "partita_iva": demo_partita_iva(777),
            "address": "Via Verdi 2",
            "city": "Torino",
            "province": "TO",
        }
    )
    response = client.post(reverse("accounts:register_structure"), data)
    assert response.status_code == 302
    structure = Structure.objects.get()
    assert structure.managers.get().user.role == Role.STRUCTURE_MANAGER
    again = client.post(reverse("accounts:register_structure"), {**data, "email": "altro@clinica.test"})
    assert again.status_code == 302  # logged in already: sent to the dashboard, nothing created
    assert Structure.objects.count() == 1
