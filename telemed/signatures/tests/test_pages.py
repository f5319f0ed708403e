"""The signing pages and the public verification page: bad input gets a clear message, never a 500."""

import io
import uuid

import pytest
from django.urls import reverse

from conftest import log_in
from telemed.signatures import services
from telemed.signatures.models import DeviceState, SigningDevice
from telemed.signatures.tests.conftest import code_for, sample_pdf
from telemed.signatures.tests.servers import CscTestServer

pytestmark = pytest.mark.django_db

VERIFY = "/signatures/verify/"


def _signed_pdf(doctor, code) -> bytes:
    authorization = services.signing_authorize(actor=doctor, code=code, documents=1)
    [signed] = services.documents_sign(
        authorization=authorization,
        documents=[services.DocumentToSign(public_id=uuid.uuid4(), title="Referto — v1", reason="r", pdf=sample_pdf())],
    )
    return signed.pdf.read()


def _verify(client, data: bytes, url=VERIFY, name="file.pdf"):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post(url, {"document": upload})


def test_the_doctor_enrols_the_signing_app_from_its_page(client, make_doctor, signing_ca, clock):
    doctor = make_doctor()
    log_in(client, doctor)
    page = client.get(reverse("signatures:device"))
    assert page.status_code == 200 and b"data:image/svg+xml" in page.content
    device = SigningDevice.objects.get(user=doctor)
    response = client.post(reverse("signatures:device"), {"code": "12"})
    assert response.status_code == 400 and response.context["code_form"].errors
    response = client.post(reverse("signatures:device"), {"code": code_for(device, clock.now)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.state == DeviceState.ACTIVE
    assert b'data-testid="signing-ready"' in client.get(reverse("signatures:device")).content


def test_only_doctors_reach_the_signing_page(client, make_patient):
    client.force_login(make_patient())
    assert client.get(reverse("signatures:device")).status_code == 403


def test_the_page_recognises_a_platform_signature(client, signing_doctor, next_code):
    doctor = signing_doctor()
    response = _verify(client, _signed_pdf(doctor, next_code(doctor)))
    assert response.status_code == 200
    outcome = response.context["outcome"]
    assert outcome.valid and outcome.findings[0].record is not None
    html = response.content.decode()
    assert 'data-valid="true"' in html and doctor.doctor_profile.codice_fiscale in html


def test_bytes_added_after_signing_are_reported(client, signing_doctor, next_code):
    doctor = signing_doctor()
    data = _signed_pdf(doctor, next_code(doctor))
    appended = data + b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
    outcome = _verify(client, appended).context["outcome"]
    assert not outcome.valid


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.pdf", ""),
        (b"MZ\x90\x00 not a pdf at all", "virus.pdf", 'data-valid="false"'),
        (
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\nxref\n0 9999999\ngarbage\ntrailer << /Root 1 0 R >>\nstartxref\n12345\n%%EOF",
            "broken.pdf",
            "",
        ),
        (b"%PDF-1.4\n" + b"\x00" * 5000, "zeros.pdf", ""),
    ],
)
def test_bad_uploads_get_a_clear_answer_and_never_a_server_error(client, signing_ca, data, name, message):
    response = _verify(client, data, name=name)
    assert response.status_code in {200, 400}
    assert message in response.content.decode()
    if response.context.get("outcome") is not None:
        assert response.context["outcome"].valid is False


def test_an_unsigned_pdf_is_not_valid(client, signing_ca):
    response = _verify(client, sample_pdf().getvalue())
    assert response.status_code == 200 and "no digital signature" in response.content.decode()


def test_an_encrypted_pdf_is_refused_with_a_message(client, signing_ca):
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret", algorithm="AES-128")
    data = io.BytesIO()
    writer.write(data)
    response = _verify(client, data.getvalue())
    assert response.status_code == 400 and "encrypted" in response.content.decode()


def test_a_huge_upload_is_refused_before_it_is_read(client, settings, signing_ca):
    settings.SIGNATURE_VERIFY_MAX_BYTES = 1024
    response = _verify(client, b"%PDF-1.7\n" + b"x" * 200_000)
    assert response.status_code == 413 and "larger than" in response.content.decode()


def test_a_pdf_signed_by_someone_else_is_not_valid_for_the_platform(client, signing_ca):
    """Signed by a certificate of another authority: intact, but not the platform's."""
    import asyncio

    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from telemed.signatures import pades
    from telemed.signatures.tests.servers import TestAuthority, _key_usage, _name

    other = TestAuthority("Someone Else CA")
    key, certificate = other.issue(
        _name((NameOID.COMMON_NAME, "Mallory"), (NameOID.SERIAL_NUMBER, "TINIT-MLLMLL80A01F205X")),
        key_usage=_key_usage(digital_signature=True, content_commitment=True),
        extended=[ExtendedKeyUsageOID.EMAIL_PROTECTION],
    )
    signer = pades.local_signer(
        certificate_der=certificate.public_bytes(serialization.Encoding.DER),
        private_key_der=key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        chain_der=[other.der],
    )
    output = io.BytesIO()
    asyncio.run(
        pades.sign_pdf(
            pdf=sample_pdf(), output=output, signer=signer, appearance=pades.Appearance("Mallory", "r", "now")
        )
    )
    response = _verify(client, output.getvalue())
    outcome = response.context["outcome"]
    assert response.status_code == 200 and not outcome.valid and outcome.untrusted
    assert outcome.findings[0].record is None
    assert "not issued by an authority the platform recognises" in response.content.decode()


def test_the_qr_page_shows_the_record_and_refuses_another_document(client, signing_doctor, next_code):
    doctor = signing_doctor()
    first = _signed_pdf(doctor, next_code(doctor))
    second = _signed_pdf(doctor, next_code(doctor))
    from telemed.signatures.models import SignatureRecord

    record = SignatureRecord.objects.order_by("signed_at", "id").first()
    url = reverse("signatures:verify_document", args=[record.public_id])
    page = client.get(url)
    assert page.status_code == 200 and record.sha256 in page.content.decode()
    assert _verify(client, first, url=url).context["outcome"].valid
    outcome = _verify(client, second, url=url).context["outcome"]
    assert not outcome.valid and not outcome.matches_expected
    assert client.get(reverse("signatures:verify_document", args=[uuid.uuid4()])).status_code == 404
    assert client.get("/signatures/verify/not-a-uuid/").status_code == 404


def test_the_authority_certificate_is_public(client, signing_ca):
    response = client.get(reverse("signatures:ca_certificate"))
    assert response.status_code == 200 and response.content == bytes(signing_ca.certificate_der)


def test_a_doctor_connects_a_remote_signer_from_the_page(client, make_doctor, signing_ca):
    from telemed.signatures.models import RemoteCredential, RemoteSignerProvider

    doctor = make_doctor()
    log_in(client, doctor)
    with CscTestServer(token="t0ken") as server:
        server.add_credential("c1", first_name="A", last_name="B", codice_fiscale=doctor.doctor_profile.codice_fiscale)
        provider = RemoteSignerProvider.objects.create(name="QTSP", base_url=server.url)
        response = client.post(
            reverse("signatures:remote_configure"),
            {"provider": provider.pk, "credential_id": "c1", "access_token": "wrong"},
        )
        assert response.status_code == 400 and not RemoteCredential.objects.exists()
        response = client.post(
            reverse("signatures:remote_configure"),
            {"provider": provider.pk, "credential_id": "c1", "access_token": "t0ken"},
        )
        assert response.status_code == 302
    credential = RemoteCredential.objects.get(doctor=doctor)
    assert b"t0ken" not in bytes(credential.sealed_access_token)
