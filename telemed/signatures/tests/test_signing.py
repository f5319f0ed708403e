import io
import subprocess
import uuid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from telemed.signatures import selectors, services
from telemed.signatures.models import (
    CertificateAuthority,
    DeviceState,
    SignatureRecord,
    SigningAttempt,
    SigningAttemptOutcome,
    SigningCertificate,
)
from telemed.signatures.sealing import UnsealError, seal, unseal
from telemed.signatures.tests.conftest import code_for, sample_pdf

pytestmark = pytest.mark.django_db


def _sign(doctor, code: str, count: int = 1, text: str = "Referto"):
    authorization = services.signing_authorize(actor=doctor, code=code, documents=count)
    documents = [
        services.DocumentToSign(
            public_id=uuid.uuid4(), title=f"{text} {n}", reason="Referto firmato", pdf=sample_pdf(text)
        )
        for n in range(count)
    ]
    return services.documents_sign(authorization=authorization, documents=documents)


def _pdfsig(path) -> str:
    result = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


# --- the certification authority and certificates --------------------------------------


def test_the_management_command_creates_the_authority_once():
    call_command("signing_ca_create", verbosity=0)
    call_command("signing_ca_create", verbosity=0)
    assert CertificateAuthority.objects.count() == 1
    call_command("signing_ca_create", "--rotate", verbosity=0)
    assert CertificateAuthority.objects.count() == 2


def test_the_doctors_certificate_names_them_with_the_italian_tax_id(signing_doctor):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    doctor = signing_doctor(first_name="Anna", last_name="Verdi")
    certificate = SigningCertificate.objects.get(doctor=doctor)
    parsed = x509.load_der_x509_certificate(bytes(certificate.certificate_der))
    serial_number = parsed.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    assert serial_number == f"TINIT-{doctor.doctor_profile.codice_fiscale}"
    assert parsed.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Anna Verdi"
    assert parsed.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment


def test_private_keys_are_encrypted_at_rest(signing_doctor, settings):
    doctor = signing_doctor()
    certificate = SigningCertificate.objects.get(doctor=doctor)
    sealed = bytes(certificate.sealed_key)
    assert b"\x02\x01\x00" not in sealed[:40]  # not a DER PKCS#8 in clear
    key = unseal(sealed, purpose=f"signing-key:{certificate.serial_number}")
    assert key.startswith(b"\x30")
    settings.SIGNING_KEY_SECRET = "another key"
    with pytest.raises(UnsealError):
        unseal(sealed, purpose=f"signing-key:{certificate.serial_number}")


def test_a_sealed_value_cannot_be_moved_to_another_purpose():
    with pytest.raises(UnsealError):
        unseal(seal(b"secret", purpose="a"), purpose="b")


def test_only_doctors_get_signing_devices(make_patient, signing_ca):
    with pytest.raises(PermissionDenied):
        services.signing_device_enrol_start(actor=make_patient())


# --- the signing device -------------------------------------------------------------------


def test_enrolment_needs_the_right_code_and_keeps_the_login_device_apart(make_doctor, signing_ca, clock):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    doctor = make_doctor()
    device = services.signing_device_enrol_start(actor=doctor)
    assert services.signing_device_enrol_start(actor=doctor).pk == device.pk  # the same QR until confirmed
    with pytest.raises(ValidationError):
        services.signing_device_confirm(
            actor=doctor, code="000000" if code_for(device, clock.now) != "000000" else "111111"
        )
    services.signing_device_confirm(actor=doctor, code=code_for(device, clock.now))
    device.refresh_from_db()
    assert device.state == DeviceState.ACTIVE
    assert not TOTPDevice.objects.filter(user=doctor).exists()
    assert selectors.signing_status(doctor).can_sign


def test_a_right_code_signs_and_the_same_code_cannot_sign_again(signing_doctor, next_code):
    doctor = signing_doctor()
    code = next_code(doctor)
    [signed] = _sign(doctor, code)
    assert signed.record.signer_fiscal_code == doctor.doctor_profile.codice_fiscale
    with pytest.raises(ValidationError, match="already been used"):
        services.signing_authorize(actor=doctor, code=code, documents=1)
    assert SignatureRecord.objects.count() == 1
    assert SigningAttempt.objects.filter(user=doctor, outcome=SigningAttemptOutcome.REUSED_CODE).exists()


def test_five_wrong_codes_lock_signing_and_each_is_logged(signing_doctor, next_code, caplog):
    doctor = signing_doctor()
    good = next_code(doctor)
    wrong = "000000" if good != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(ValidationError, match=f": {left}"):
            services.signing_authorize(actor=doctor, code=wrong, documents=1)
    with pytest.raises(ValidationError, match="locked"):
        services.signing_authorize(actor=doctor, code=wrong, documents=1)
    with pytest.raises(ValidationError, match="locked"):
        services.signing_authorize(actor=doctor, code=good, documents=1)  # even the right code now
    doctor.signing_device.refresh_from_db()
    assert doctor.signing_device.state == DeviceState.LOCKED
    assert SigningAttempt.objects.filter(user=doctor, outcome=SigningAttemptOutcome.WRONG_CODE).count() == 5
    assert "signing refused" in caplog.text
    assert SignatureRecord.objects.count() == 0


def test_enrolling_again_unlocks_a_locked_device(signing_doctor, next_code, clock):
    doctor = signing_doctor()
    for _ in range(5):
        with pytest.raises(ValidationError):
            services.signing_authorize(actor=doctor, code="abc", documents=1)
    new_device = services.signing_device_enrol_start(actor=doctor)
    services.signing_device_confirm(actor=doctor, code=code_for(new_device, clock.now))
    new_device.refresh_from_db()
    doctor.signing_device = new_device
    assert len(_sign(doctor, next_code(doctor))) == 1


def test_a_doctor_without_a_device_cannot_sign(make_doctor, signing_ca):
    doctor = make_doctor()
    with pytest.raises(ValidationError, match="no signing device"):
        services.signing_authorize(actor=doctor, code="123456", documents=1)
    assert SigningAttempt.objects.get(user=doctor).outcome == SigningAttemptOutcome.NO_DEVICE


def test_an_expired_or_revoked_certificate_signs_nothing(signing_doctor, next_code, make_patient):
    from django.utils import timezone

    staff = make_patient()
    staff.is_staff = True
    doctor = signing_doctor()
    certificate = SigningCertificate.objects.get(doctor=doctor)
    services.signing_certificate_revoke(actor=staff, certificate=certificate, reason="phone lost")
    with pytest.raises(ValidationError, match="revoked"):
        services.signing_authorize(actor=doctor, code=next_code(doctor), documents=1)
    SigningCertificate.objects.filter(pk=certificate.pk).update(revoked_at=None, not_after=timezone.now())
    with pytest.raises(ValidationError, match="expired"):
        services.signing_authorize(actor=doctor, code=next_code(doctor), documents=1)
    assert SignatureRecord.objects.count() == 0
    with pytest.raises(PermissionDenied):
        services.signing_certificate_revoke(actor=doctor, certificate=certificate, reason="")


def test_an_authorisation_signs_once_and_only_its_number_of_documents(signing_doctor, next_code):
    doctor = signing_doctor()
    authorization = services.signing_authorize(actor=doctor, code=next_code(doctor), documents=2)
    one = [services.DocumentToSign(public_id=uuid.uuid4(), title="x", reason="r", pdf=sample_pdf())]
    with pytest.raises(ValidationError):
        services.documents_sign(authorization=authorization, documents=one)
    two = one + [services.DocumentToSign(public_id=uuid.uuid4(), title="y", reason="r", pdf=sample_pdf())]
    assert len(services.documents_sign(authorization=authorization, documents=two)) == 2
    with pytest.raises(ValidationError):
        services.documents_sign(authorization=authorization, documents=two)


# --- the signed PDF, checked independently ---------------------------------------------------


def test_pdfsig_finds_a_valid_signature_and_then_the_flipped_byte(signing_doctor, next_code, tmp_path, client):
    doctor = signing_doctor()
    [signed] = _sign(doctor, next_code(doctor))
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed.pdf.read())
    report = _pdfsig(path)
    assert "Signature is Valid" in report and "Total document signed" in report, report
    assert doctor.doctor_profile.codice_fiscale in report

    data = bytearray(path.read_bytes())
    position = data.index(b"Paziente") if b"Paziente" in data else len(data) // 4
    data[position] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    report = _pdfsig(tampered)
    assert "Signature is Valid" not in report, report

    response = client.post("/signatures/verify/", {"document": io.BytesIO(bytes(data))}, format="multipart")
    assert response.status_code == 200
    assert response.context["outcome"].valid is False


def test_b_t_with_a_time_stamping_authority(signing_doctor, next_code, tsa_server, settings):
    settings.SIGNING_TSA_URL = tsa_server.url
    doctor = signing_doctor()
    [signed] = _sign(doctor, next_code(doctor))
    assert signed.record.level == "PAdES-B-T"
    assert tsa_server.requests >= 1
    outcome = selectors.document_verify(signed.pdf)
    assert outcome.findings[0].check.timestamped


# --- the remote qualified signer over the CSC API ------------------------------------------


@pytest.fixture
def remote_doctor(make_doctor, csc_server, signing_ca):
    from telemed.signatures.models import RemoteSignerProvider

    doctor = make_doctor(first_name="Lucia", last_name="Neri")
    csc_server.add_credential(
        "cred-lucia", first_name="Lucia", last_name="Neri", codice_fiscale=doctor.doctor_profile.codice_fiscale
    )
    provider = RemoteSignerProvider.objects.create(
        name="Test QTSP", base_url=csc_server.url, root_certificate_der=csc_server.authority.der
    )
    services.remote_signer_configure(actor=doctor, provider=provider, credential_id="cred-lucia")
    return doctor


def test_remote_signer_signs_a_batch_with_one_otp(remote_doctor, csc_server):
    authorization = services.signing_authorize(actor=remote_doctor, code=csc_server.otp, documents=3)
    documents = [
        services.DocumentToSign(public_id=uuid.uuid4(), title=f"d{n}", reason="r", pdf=sample_pdf()) for n in range(3)
    ]
    signed = services.documents_sign(authorization=authorization, documents=documents)
    assert [s.record.backend for s in signed] == ["remote"] * 3
    assert csc_server.calls.count("credentials/authorize") == 1
    assert csc_server.calls.count("signatures/signHash") == 3
    assert {"credentials/list", "credentials/info"} <= set(csc_server.calls)
    outcome = selectors.document_verify(signed[0].pdf)
    assert outcome.valid, outcome
    assert outcome.findings[0].check.fiscal_code == remote_doctor.doctor_profile.codice_fiscale


def test_remote_signer_refuses_a_wrong_otp_and_nothing_is_signed(remote_doctor, csc_server):
    with pytest.raises(ValidationError, match="refused the code"):
        services.signing_authorize(actor=remote_doctor, code="000000", documents=1)
    assert SignatureRecord.objects.count() == 0
    assert "signatures/signHash" not in csc_server.calls


def test_a_remote_credential_of_someone_else_is_refused(make_doctor, csc_server, signing_ca):
    from telemed.signatures.models import RemoteCredential, RemoteSignerProvider

    doctor = make_doctor()
    csc_server.add_credential("cred-other", first_name="Other", last_name="Person", codice_fiscale="BNCMRA80A41F205X")
    provider = RemoteSignerProvider.objects.create(name="Test QTSP", base_url=csc_server.url)
    with pytest.raises(ValidationError, match="someone else"):
        services.remote_signer_configure(actor=doctor, provider=provider, credential_id="cred-other")
    with pytest.raises(ValidationError, match="does not know"):
        services.remote_signer_configure(actor=doctor, provider=provider, credential_id="nope")
    assert not RemoteCredential.objects.exists()


def test_an_unreachable_provider_gives_a_clear_message(make_doctor, signing_ca):
    from conftest import free_port
    from telemed.signatures.models import RemoteSignerProvider

    provider = RemoteSignerProvider.objects.create(name="Down", base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ValidationError, match="cannot be reached"):
        services.remote_signer_configure(actor=make_doctor(), provider=provider, credential_id="x")


def test_in_development_the_first_enrolment_creates_the_authority(make_doctor, clock, settings):
    from django.core.exceptions import ImproperlyConfigured

    doctor = make_doctor()
    device = services.signing_device_enrol_start(actor=doctor)
    settings.PRODUCTION = True
    with pytest.raises(ImproperlyConfigured, match="signing_ca_create"):
        services.signing_device_confirm(actor=doctor, code=code_for(device, clock.now))
    settings.PRODUCTION = False
    services.signing_device_confirm(actor=doctor, code=code_for(device, clock.now))
    assert CertificateAuthority.objects.count() == 1
    assert selectors.usable_certificate(doctor) is not None


def test_production_without_the_signing_key_signs_nothing(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.SIGNING_KEY_SECRET = ""
    with pytest.raises(ImproperlyConfigured, match="TELEMED_SIGNING_KEY"):
        seal(b"key", purpose="x")
