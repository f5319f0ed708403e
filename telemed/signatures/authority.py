"""The platform certification authority and the certificates it issues to doctors (pure X.509 work).

Subjects follow Italian signature certificates: the holder's name, and ``serialNumber`` carrying
``TINIT-<codice fiscale>`` (ETSI EN 319 412-1 semantics identifier for a natural person's tax ID).
"""

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = datetime.timedelta(days=365 * 10)
DOCTOR_CERTIFICATE_LIFETIME = datetime.timedelta(days=365 * 3)
# id-kp-documentSigning (RFC 9336): what a PDF signing certificate is for.
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True)
class IssuedCertificate:
    certificate_der: bytes
    private_key_der: bytes  # PKCS#8, unencrypted: the caller seals it before storing
    serial_number: int
    subject: str
    not_before: datetime.datetime
    not_after: datetime.datetime


def _private_key_der(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def create_authority(*, name: str, now: datetime.datetime) -> IssuedCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "telemed"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    serial = x509.random_serial_number()
    not_after = now + CA_LIFETIME
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(
        certificate_der=certificate.public_bytes(serialization.Encoding.DER),
        private_key_der=_private_key_der(key),
        serial_number=serial,
        subject=certificate.subject.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=not_after,
    )


def issue_doctor_certificate(
    *,
    authority_certificate_der: bytes,
    authority_key_der: bytes,
    first_name: str,
    last_name: str,
    codice_fiscale: str,
    now: datetime.datetime,
) -> IssuedCertificate:
    authority_certificate = x509.load_der_x509_certificate(authority_certificate_der)
    authority_key = serialization.load_der_private_key(authority_key_der, password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
            x509.NameAttribute(NameOID.SURNAME, last_name),
            x509.NameAttribute(NameOID.GIVEN_NAME, first_name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINIT-{codice_fiscale}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{first_name} {last_name}"),
        ]
    )
    serial = x509.random_serial_number()
    not_after = min(now + DOCTOR_CERTIFICATE_LIFETIME, authority_certificate.not_valid_after_utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority_certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_certificate.public_key()), critical=False
        )
        .sign(authority_key, hashes.SHA256())
    )
    return IssuedCertificate(
        certificate_der=certificate.public_bytes(serialization.Encoding.DER),
        private_key_der=_private_key_der(key),
        serial_number=serial,
        subject=certificate.subject.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=not_after,
    )


def fiscal_code_of(certificate_der: bytes) -> str:
    """The codice fiscale in a certificate's ``serialNumber`` (``TINIT-…``), or "" when absent."""
    certificate = x509.load_der_x509_certificate(certificate_der)
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER):
        value = str(attribute.value)
        if value.upper().startswith("TINIT-"):
            return value[6:].upper()
    return ""


def common_name_of(certificate_der: bytes) -> str:
    certificate = x509.load_der_x509_certificate(certificate_der)
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()
