"""The care link: who may reach whom, and the patient's consent behind it."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from conftest import verified_client
from telemed.care import selectors, services
from telemed.care.models import CareLink, LinkStatus
from telemed.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_patient_request_becomes_active_when_the_doctor_accepts(make_patient, make_doctor):
    patient, doctor = make_patient(), make_doctor()
    link = services.care_request(actor=patient, doctor=doctor, message="Sono una sua paziente")
    assert (
        link.status == LinkStatus.REQUESTED
        and link.consented_at
        and "revoke" in link.consent_text.lower()
        or "revoc" in link.consent_text.lower()
    )
    assert not selectors.care_link_is_active(doctor=doctor, patient=patient)
    assert Notification.objects.filter(recipient=doctor, kind="care_link").exists()
    with pytest.raises(ValidationError):
        services.care_accept(actor=patient, link=link)  # the patient cannot accept their own request
    services.care_accept(actor=doctor, link=link)
    assert selectors.care_link_is_active(doctor=doctor, patient=patient)
    assert list(selectors.linked_patients(doctor)) == [patient]
    assert list(selectors.linked_doctors(patient)) == [doctor]


def test_doctor_invitation_needs_the_patients_consent(make_patient, make_doctor):
    patient, doctor = make_patient(email="anna@example.test"), make_doctor()
    link = services.care_invite(actor=doctor, email="Anna@Example.test")
    assert link.patient == patient and link.status == LinkStatus.INVITED and link.consented_at is None
    with pytest.raises(ValidationError):
        services.care_accept(actor=doctor, link=link)  # a doctor cannot consent for the patient
    link = services.care_accept(actor=patient, link=link)
    assert link.status == LinkStatus.ACTIVE and link.consented_at is not None
    assert "Dr." in link.consent_text or "dott" in link.consent_text.lower()


def test_revocation_stops_the_link_and_a_new_request_is_possible(make_patient, make_doctor):
    patient, doctor = make_patient(), make_doctor()
    link = services.care_accept(actor=doctor, link=services.care_request(actor=patient, doctor=doctor))
    services.care_revoke(actor=patient, link=link)
    assert not selectors.care_link_is_active(doctor=doctor, patient=patient)
    with pytest.raises(ValidationError):
        services.care_revoke(actor=patient, link=link)
    again = services.care_request(actor=patient, doctor=doctor)
    assert again.pk != link.pk and CareLink.objects.filter(doctor=doctor, patient=patient).count() == 2


def test_only_one_open_link_per_pair(make_patient, make_doctor):
    patient, doctor = make_patient(email="anna@example.test"), make_doctor()
    services.care_request(actor=patient, doctor=doctor)
    with pytest.raises(ValidationError):
        services.care_request(actor=patient, doctor=doctor)
    with pytest.raises(ValidationError):
        services.care_invite(actor=doctor, email="anna@example.test")


def test_roles_are_checked(make_patient, make_doctor):
    patient, doctor, other_doctor = (
        make_patient(email="anna@example.test"),
        make_doctor(),
        make_doctor(email="d2@example.test"),
    )
    with pytest.raises(PermissionDenied):
        services.care_invite(actor=patient, email="d2@example.test")
    with pytest.raises(PermissionDenied):
        services.care_request(actor=doctor, doctor=other_doctor)
    with pytest.raises(ValidationError):
        services.care_invite(actor=doctor, email="d2@example.test")  # a doctor is not a patient
    with pytest.raises(ValidationError):
        services.care_request(actor=patient, doctor=patient)  # a patient is not a doctor
    link = services.care_invite(actor=doctor, email="anna@example.test")
    with pytest.raises(ValidationError):
        services.care_accept(actor=other_doctor, link=link)


def test_email_invitation_of_someone_without_an_account(client, make_doctor, run_tasks, smtp_settings):
    import re

    doctor = make_doctor()
    verified_client(doctor).post(reverse("care:invite"), {"email": "nuovo@example.test", "message": "Benvenuto"})
    link = CareLink.objects.get()
    assert link.patient is None and link.token
    run_tasks()
    body = smtp_settings.wait_for("nuovo@example.test").get_body(preferencelist=("plain",)).get_content()
    path = re.search(r"https?://[^/\s]+(/care/join/\S+/)", body).group(1)
    landing = client.get(path)
    assert landing.status_code == 200
    register_url = landing.context["register_url"]
    from conftest import PASSWORD
    from telemed.accounts.tests.test_registration import patient_data

    response = client.post(
        register_url, patient_data(email="nuovo@example.test", password1=PASSWORD, password2=PASSWORD)
    )
    assert response.status_code == 302 and response["Location"] == path
    client.get(path)
    link.refresh_from_db()
    assert link.patient.email == "nuovo@example.test" and link.status == LinkStatus.INVITED
    client.post(reverse("care:accept", args=[link.pk]))
    link.refresh_from_db()
    assert link.status == LinkStatus.ACTIVE


def test_pages_and_strangers(make_patient, make_doctor):
    patient, doctor, stranger = make_patient(), make_doctor(), make_patient()
    link = services.care_request(actor=patient, doctor=doctor)
    page = verified_client(doctor).get(reverse("care:links"))
    assert page.status_code == 200 and link in page.context["waiting_for_me"]
    # Someone else's link is not there for a stranger: 404, nothing changes.
    assert verified_client(stranger).post(reverse("care:accept", args=[link.pk])).status_code == 404
    assert verified_client(stranger).post(reverse("care:revoke", args=[link.pk])).status_code == 404
    assert verified_client(patient).post(reverse("care:request", args=[999999])).status_code == 404
    assert Client().get(reverse("care:links")).status_code == 302
    verified_client(doctor).post(reverse("care:accept", args=[link.pk]))
    assert selectors.care_link_is_active(doctor=doctor, patient=patient)
    bad = verified_client(doctor).post(reverse("care:invite"), {"email": "not-an-email"}, follow=True)
    assert bad.status_code == 200 and CareLink.objects.count() == 1


def test_the_doctors_public_profile_offers_the_link_to_patients(make_patient, make_doctor):
    patient, doctor = make_patient(), make_doctor()
    client = verified_client(patient)
    page = client.get(reverse("directory:profile", args=[doctor.doctor_profile.slug])).content.decode()
    assert reverse("care:request", args=[doctor.pk]) in page
    client.post(reverse("care:request", args=[doctor.pk]))
    assert CareLink.objects.get().status == LinkStatus.REQUESTED
