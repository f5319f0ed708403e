"""The versioned notices and the consents: given at registration with their version, asked again
at the next page when a new version is published, withdrawn with what that stops."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from conftest import verified_client
from telemed.accounts import consents
from telemed.accounts.models import Consent, ConsentKind, Notice, User
from telemed.accounts.tests.test_registration import patient_data
from telemed.boxes import services as box_services
from telemed.consults.tests.conftest import welbox_document

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]


def publish(kind="privacy", version="2027-01") -> Notice:
    return Notice.objects.create(
        kind=kind, version=version, body="Nuovo testo.\n\nSecondo paragrafo.", published_at=timezone.now()
    )


def given(user) -> set[tuple[str, str]]:
    return set(consents.live_consents(user).values_list("kind", "version"))


def test_registration_records_each_consent_with_the_version_in_force(client, files_in_tmp):
    response = client.post(reverse("accounts:register_patient"), patient_data(consent_shared_space="on"))
    assert response.status_code == 302
    user = User.objects.get()
    assert given(user) == {
        ("privacy", "2026-12"),
        ("terms", "2026-12"),
        ("health_data", "2026-12"),
        ("shared_space", "2026-12"),
    }
    with override("it"):  # the wording agreed to, in the language it was read in
        assert Consent.objects.get(user=user, kind="health_data").text == str(consents.WORDING[ConsentKind.HEALTH_DATA])


def test_the_shared_space_is_optional_and_the_health_data_consent_is_not(client, files_in_tmp):
    refused = client.post(reverse("accounts:register_patient"), patient_data(consent_health_data=None))
    assert refused.status_code == 400 and not User.objects.exists()
    assert client.post(reverse("accounts:register_patient"), patient_data()).status_code == 302
    assert {kind for kind, _version in given(User.objects.get())} == {"privacy", "terms", "health_data"}


def test_a_new_privacy_version_is_asked_at_the_next_page_and_then_never_again(make_patient):
    patient = make_patient()
    client = verified_client(patient, language="en")
    assert client.get(reverse("boxes:home")).status_code == 200
    publish("privacy", "2027-01")

    response = client.get(reverse("boxes:home"))
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:consents_renew"))
    page = client.get(response.url).content.decode()
    assert 'name="privacy"' in page and 'name="health_data"' in page and 'name="terms"' not in page
    assert client.get(reverse("accounts:notice", args=["privacy"])).status_code == 200  # readable meanwhile

    refused = client.post(reverse("accounts:consents_renew"), {"privacy": "on", "next": reverse("boxes:home")})
    assert refused.status_code == 400 and ("privacy", "2027-01") not in given(patient)
    accepted = client.post(
        reverse("accounts:consents_renew"),
        {"privacy": "on", "health_data": "on", "shared_space": "on", "next": reverse("boxes:home")},
    )
    assert accepted.status_code == 302 and accepted.url == reverse("boxes:home")
    assert {
        ("privacy", "2027-01"),
        ("health_data", "2027-01"),
        ("shared_space", "2027-01"),
        ("terms", "2026-12"),
    } == given(patient)
    assert client.get(reverse("boxes:home")).status_code == 200


def test_a_version_published_for_later_is_not_asked_yet(make_patient):
    patient = make_patient()
    Notice.objects.create(
        kind="terms", version="2027-06", body="Più avanti.", published_at=timezone.now() + datetime.timedelta(days=30)
    )
    assert consents.consents_missing(patient) == []
    assert (
        verified_client(patient).get(reverse("accounts:notice_version", args=["terms", "2027-06"])).status_code == 404
    )


def test_platform_staff_are_never_asked(make_patient, django_user_model):
    staff = django_user_model.objects.create_user(
        "staff@example.test", "x-long-password-1", role="staff", is_staff=True
    )
    publish("terms", "2027-02")
    assert consents.consents_missing(staff) == []


def test_withdrawing_the_shared_space_stops_every_doctor_seeing_what_was_shared(
    make_patient, make_doctor, files_in_tmp
):
    patient, doctor = make_patient(), make_doctor()
    document = welbox_document(patient, name="Esame.pdf")
    box_services.document_share(actor=patient, document=document, doctor=doctor)
    doctor_client, patient_client = verified_client(doctor, language="en"), verified_client(patient, language="en")
    url = reverse("boxes:document", args=[document.pk])
    assert doctor_client.get(url).status_code == 200

    page = patient_client.get(reverse("accounts:consents")).content.decode()
    assert "No doctor sees anything you shared" in page  # what withdrawing stops, said before
    response = patient_client.post(reverse("accounts:consent_withdraw"), {"kind": "shared_space"}, follow=True)
    assert "No doctor sees anything you shared" in response.content.decode()
    assert doctor_client.get(url).status_code == 404
    assert patient_client.get(url).status_code == 200  # the patient's own Welbox is not affected

    patient_client.post(reverse("accounts:consent_give"), {"kind": "shared_space"})
    assert doctor_client.get(url).status_code == 200


def test_withdrawing_the_health_data_consent_asks_for_it_before_any_page(make_patient):
    patient = make_patient()
    client = verified_client(patient, language="en")
    client.post(reverse("accounts:consent_withdraw"), {"kind": "health_data"})
    response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:consents_renew"))


@pytest.mark.parametrize("kind", ["privacy", "terms", "nonsense", ""])
def test_only_the_withdrawable_consents_can_be_withdrawn_and_bad_input_changes_nothing(make_patient, kind):
    patient = make_patient()
    before = given(patient)
    response = verified_client(patient, language="en").post(
        reverse("accounts:consent_withdraw"), {"kind": kind}, follow=True
    )
    assert response.status_code == 200 and "cannot be withdrawn" in response.content.decode()
    assert given(patient) == before


def test_the_notices_are_public_with_every_version(client):
    publish("privacy", "2027-01")
    page = client.get(reverse("accounts:notice", args=["privacy"])).content.decode()
    assert "2027-01" in page and "Secondo paragrafo." in page and "2026-12" in page
    old = client.get(reverse("accounts:notice_version", args=["privacy", "2026-12"])).content.decode()
    assert "Garante" in old
    assert client.get(reverse("accounts:notice", args=["cookies"])).status_code == 404
    assert client.get(reverse("accounts:notice_version", args=["privacy", "1999"])).status_code == 404
