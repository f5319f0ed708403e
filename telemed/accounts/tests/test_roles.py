"""Secretaries invited by doctors, doctors attached to structures, certification access."""

import pytest
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD, person, verified_client
from telemed.accounts import selectors, services
from telemed.accounts.models import Invitation, Role, SecretaryAssignment

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(db):
    from telemed.portal.management.commands.load_demo import demo_partita_iva

    return services.structure_manager_register(
        person=person(email="manager@example.test"),
        phone="+39 02 000000",
        structure_name="Centro Medico Test",
        partita_iva=demo_partita_iva(31337),
        address="Via Roma 1",
        city="Milano",
        province="MI",
    )


def test_doctor_invites_a_new_secretary_who_registers_from_the_link(make_doctor, run_tasks, smtp_settings):
    doctor = make_doctor(email="doc@example.test")
    client = verified_client(doctor)
    response = client.post(reverse("accounts:secretary_invite"), {"email": "Segreteria@Example.test"})
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.email == "segreteria@example.test"
    run_tasks()
    mail = smtp_settings.wait_for("segreteria@example.test")
    assert invitation.token in mail.get_body(preferencelist=("plain",)).get_content()

    visitor = Client()
    page = visitor.get(reverse("accounts:invitation", args=[invitation.token]))
    assert page.status_code == 200 and page.context["form"] is not None
    registered = visitor.post(
        reverse("accounts:invitation", args=[invitation.token]),
        {
            "first_name": "Laura",
            "last_name": "Neri",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "accept_terms": "on",
        },
    )
    assert registered.status_code == 302
    secretary = invitation.doctor.secretaries.get().user
    assert secretary.role == Role.SECRETARY and secretary.email_verified
    assert list(selectors.doctors_of_secretary(secretary)) == [doctor.doctor_profile]
    # The link works once.
    assert visitor.get(reverse("accounts:invitation", args=[invitation.token])).status_code == 410


def test_only_doctors_invite_secretaries_and_not_existing_patients(make_patient, make_doctor):
    patient = make_patient(email="anna@example.test")
    doctor = make_doctor()
    assert (
        verified_client(patient).post(reverse("accounts:secretary_invite"), {"email": "x@example.test"}).status_code
        == 403
    )
    response = verified_client(doctor).post(
        reverse("accounts:secretary_invite"), {"email": "anna@example.test"}, follow=True
    )
    assert "non è di una segretaria" in response.content.decode()
    assert Invitation.objects.count() == 0


def test_secretary_works_for_several_doctors_and_can_be_removed(make_doctor):
    first, second = make_doctor(), make_doctor()
    invitation = services.secretary_invite(actor=first, email="seg@example.test")
    secretary = services.secretary_register_from_invitation(token=invitation.token, person=person(), phone="")
    second_invitation = services.secretary_invite(actor=second, email="seg@example.test")
    verified_client(secretary).post(reverse("accounts:invitation", args=[second_invitation.token]))
    assert selectors.doctors_of_secretary(secretary).count() == 2
    assert selectors.secretary_works_for(secretary, second.doctor_profile)
    verified_client(first).post(reverse("accounts:secretary_remove", args=[secretary.secretary_profile.pk]))
    assert list(selectors.doctors_of_secretary(secretary)) == [second.doctor_profile]


def test_invitation_for_another_email_cannot_be_accepted(make_doctor, make_patient):
    doctor = make_doctor()
    invitation = services.secretary_invite(actor=doctor, email="seg@example.test")
    other = make_patient(email="other@example.test")
    response = verified_client(other).post(reverse("accounts:invitation", args=[invitation.token]), follow=True)
    assert "inviato a un altro indirizzo" in response.content.decode()
    assert SecretaryAssignment.objects.count() == 0


def test_unknown_invitation_token_is_a_404(client):
    assert client.get(reverse("accounts:invitation", args=["nope"])).status_code == 404


def test_structure_manager_attaches_a_doctor_who_accepts(manager, make_doctor):
    doctor = make_doctor(email="doc@example.test")
    response = verified_client(manager).post(reverse("accounts:structure_doctor_invite"), {"email": "doc@example.test"})
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert doctor.doctor_profile.structure is None  # nothing binds until the doctor accepts
    verified_client(doctor).post(reverse("accounts:invitation", args=[invitation.token]))
    doctor.doctor_profile.refresh_from_db()
    assert doctor.doctor_profile.structure == manager.structure_manager_profile.structure
    assert list(selectors.doctors_of_structure_manager(manager)) == [doctor.doctor_profile]
    verified_client(manager).post(reverse("accounts:structure_doctor_detach", args=[doctor.doctor_profile.pk]))
    doctor.doctor_profile.refresh_from_db()
    assert doctor.doctor_profile.structure is None


def test_structure_invites_only_registered_doctors(manager, make_patient):
    make_patient(email="anna@example.test")
    response = verified_client(manager).post(
        reverse("accounts:structure_doctor_invite"), {"email": "anna@example.test"}, follow=True
    )
    assert "Nessun medico è registrato" in response.content.decode()
    bad = verified_client(manager).post(
        reverse("accounts:structure_doctor_invite"), {"email": "not an email"}, follow=True
    )
    assert "indirizzo e-mail valido" in bad.content.decode()
    assert Invitation.objects.count() == 0


def test_certification_files_are_seen_only_by_their_doctor_and_staff(make_doctor, make_patient, django_user_model):
    doctor, other_doctor = make_doctor(), make_doctor()
    certification = doctor.doctor_profile.certifications.first()
    url = reverse("accounts:certification_file", args=[certification.pk])
    response = verified_client(doctor).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert verified_client(other_doctor).get(url).status_code == 404
    assert verified_client(make_patient()).get(url).status_code == 404
    assert Client().get(url).status_code == 302
    staff = django_user_model.objects.create_superuser("staff@example.test", PASSWORD, first_name="S", last_name="T")
    assert verified_client(staff).get(url).status_code == 200


def test_staff_verifies_certifications_in_the_admin_and_the_profile_says_so(make_doctor, django_user_model):
    doctor = make_doctor()
    staff = django_user_model.objects.create_superuser("staff@example.test", PASSWORD, first_name="S", last_name="T")
    ids = list(doctor.doctor_profile.certifications.values_list("pk", flat=True))
    response = verified_client(staff).post(
        reverse("admin:accounts_certification_changelist"),
        {"action": "verify_certifications", "_selected_action": ids},
    )
    assert response.status_code == 302
    assert selectors.doctor_is_verified(doctor.doctor_profile)
    page = Client().get(reverse("directory:profile", args=[doctor.doctor_profile.slug])).content.decode()
    assert "Verificato da telemed" in page and "In attesa di verifica" not in page


def test_doctor_edits_the_public_profile(make_doctor):
    doctor = make_doctor()
    client = verified_client(doctor)
    page = client.get(reverse("accounts:profile_edit"))
    assert page.status_code == 200 and page.context["form"].initial["specialties"] == ["cardiologia"]
    data = {
        "presentation": "Cardiologo, ecocardiografia.",
        "specialties": ["cardiologia", "medicina-interna"],
        "languages": ["it", "en"],
        "practice_address": "Via Dante 5",
        "practice_city": "Monza",
        "practice_postcode": "20900",
        "practice_province": "MB",
        "phone": "+39 039 123456",
        "iban": doctor.doctor_profile.iban,
    }
    assert client.post(reverse("accounts:profile_edit"), data).status_code == 302
    profile = doctor.doctor_profile
    profile.refresh_from_db()
    assert profile.practice_city == "Monza" and not profile.available_for_second_opinion
    assert sorted(profile.specialties.values_list("code", flat=True)) == ["cardiologia", "medicina-interna"]
    bad = client.post(reverse("accounts:profile_edit"), {**data, "iban": "IT00X", "specialties": []})
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) == {"iban", "specialties"}
    profile.refresh_from_db()
    assert profile.iban == doctor.doctor_profile.iban and profile.specialties.count() == 2


def test_patient_edits_the_phone_and_other_roles_see_their_data_only(make_patient, manager):
    patient = make_patient()
    client = verified_client(patient)
    assert client.post(reverse("accounts:profile_edit"), {"phone": "+39 347 000 1111"}).status_code == 302
    patient.patient_profile.refresh_from_db()
    assert patient.patient_profile.phone == "+39 347 000 1111"
    assert client.post(reverse("accounts:profile_edit"), {"phone": "x"}).status_code == 400
    page = verified_client(manager).get(reverse("accounts:profile_edit"))
    assert page.status_code == 200 and page.context["form"] is None
    assert (str(page.context["identity"][1][1])) == manager.email
