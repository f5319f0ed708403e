"""Inspect the signatures of any PDF with pyHanko: intact, cryptographically valid, trusted,
who signed, when, and whether bytes were added after the signature.

Pure: no database. Hostile files are the norm here (the page is public), so every failure of the
parser is turned into an "unreadable" result, never an exception.
"""

import datetime
import hashlib
import logging
from dataclasses import dataclass, field
from typing import BinaryIO

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from telemed.signatures.authority import common_name_of, fiscal_code_of

logger = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SignatureCheck:
    intact: bool  # the signed bytes hash to what was signed
    valid: bool  # the signature over that hash is cryptographically right
    trusted: bool  # the signer's certificate chains to a root the platform trusts
    signer_name: str
    fiscal_code: str
    certificate_serial: str
    signed_at: datetime.datetime | None
    timestamped: bool
    covers_whole_file: bool  # False: bytes were added after this signature
    signed_revision_sha256: str  # hash of the file as it was when signed (for the platform's record)

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted


@dataclass(frozen=True)
class Inspection:
    readable: bool
    problem: str = ""  # a code when not readable: "not_pdf", "encrypted", "corrupt"
    signatures: list[SignatureCheck] = field(default_factory=list)


def _hash_prefix(stream: BinaryIO, length: int) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            break
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.hexdigest()


def sha256_of(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _check(embedded, stream: BinaryIO, trust_roots: list) -> SignatureCheck:
    context = ValidationContext(trust_roots=trust_roots, allow_fetching=False, revocation_mode="soft-fail")
    status = validate_pdf_signature(embedded, signer_validation_context=context, skip_diff=True)
    certificate_der = status.signing_cert.dump()
    timestamp = status.timestamp_validity
    signed_at = timestamp.timestamp if timestamp is not None else embedded.self_reported_timestamp
    _, first_length, second_start, second_length = (int(x) for x in embedded.byte_range)
    return SignatureCheck(
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        signer_name=common_name_of(certificate_der),
        fiscal_code=fiscal_code_of(certificate_der),
        certificate_serial=str(status.signing_cert.serial_number),
        signed_at=signed_at,
        timestamped=timestamp is not None,
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        signed_revision_sha256=_hash_prefix(stream, second_start + second_length),
    )


def inspect_pdf(stream: BinaryIO, *, trust_roots_der: list[bytes]) -> Inspection:
    stream.seek(0)
    if stream.read(len(PDF_MAGIC)) != PDF_MAGIC:
        # Sniffed from the content, not from the name or the declared type.
        return Inspection(readable=False, problem="not_pdf")
    stream.seek(0)
    try:
        reader = PdfFileReader(stream, strict=False)
        if reader.encrypted:
            return Inspection(readable=False, problem="encrypted")
        embedded = list(reader.embedded_signatures)
    except Exception:  # a hostile file may break the parser in any way
        logger.info("unreadable PDF on the verification page", exc_info=True)
        return Inspection(readable=False, problem="corrupt")
    trust_roots = [asn1_x509.Certificate.load(der) for der in trust_roots_der]
    checks = []
    for signature in embedded:
        try:
            checks.append(_check(signature, stream, trust_roots))
        except Exception:  # a broken signature dictionary is a broken signature
            logger.info("signature could not be checked", exc_info=True)
            checks.append(
                SignatureCheck(
                    intact=False, valid=False, trusted=False, signer_name="", fiscal_code="", certificate_serial="",
                    signed_at=None, timestamped=False, covers_whole_file=False, signed_revision_sha256="",
                )
            )  # fmt: skip
    stream.seek(0)
    return Inspection(readable=True, signatures=checks)
