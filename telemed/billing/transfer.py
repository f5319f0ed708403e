"""What a payer needs to pay by SEPA credit transfer: the platform's account, an ISO 11649
creditor reference (``RF…``) unique to the request, and the EPC QR code ("GiroCode") that
banking apps scan. References come from python-stdnum, the QR code from segno.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

import segno
from django.conf import settings
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from segno import helpers
from stdnum import iso11649
from stdnum.iso7064 import mod_97_10

# The body of every reference: "TM" and the request's number, so that staff can read it back.
REFERENCE_PREFIX = "TM"
# A reference anywhere in free text: banks and payers may put spaces in it, or lower-case it.
REFERENCE_IN_TEXT = re.compile(r"R\s?F\s?\d\s?\d(?:\s?[A-Z0-9]){1,21}", re.IGNORECASE)
# The shape of the references this platform issues (see creditor_reference).
OWN_REFERENCE = re.compile(rf"RF\d\d{REFERENCE_PREFIX}\d{{10}}")


def creditor_reference(request_id: int) -> str:
    """``RF`` + check digits + ``TM`` + the request's number (zero-padded): unique because the number is.

    The check digits are ISO 7064 mod 97-10 of the body followed by "RF", as ISO 11649
    defines them; python-stdnum computes them and validates the result.
    """
    body = f"{REFERENCE_PREFIX}{request_id:010d}"
    return iso11649.validate("RF" + mod_97_10.calc_check_digits(body + "RF") + body)


def references_in(text: str) -> list[str]:
    """Every valid creditor reference that may appear in ``text``, normalised (upper case, no spaces).

    A reference written in groups runs on into the next word ("rf12 tm00 … grazie"), and the
    pattern cannot tell where it ends. Every prefix that passes the check digits is a candidate
    (a longer one passes by chance about once in 97 tries, so stopping at the first would miss the
    real reference now and then); those shaped like the platform's own come first. Callers look
    the candidates up among known references, so a chance one matches nothing.
    """
    found = []
    for match in REFERENCE_IN_TEXT.finditer(text or ""):
        candidate = re.sub(r"\s", "", match.group(0)).upper()
        found += [candidate[:end] for end in range(len(candidate), 4, -1) if iso11649.is_valid(candidate[:end])]
    found.sort(key=lambda reference: not OWN_REFERENCE.fullmatch(reference))
    return list(dict.fromkeys(found))


def is_valid_reference(value: str) -> bool:
    return iso11649.is_valid(value or "")


def format_reference(value: str) -> str:
    return iso11649.format(value)


@dataclass(frozen=True)
class PlatformAccount:
    beneficiary: str
    iban: str
    bic: str

    @property
    def iban_formatted(self) -> str:
        return IBAN(self.iban).formatted


class AccountMisconfigured(ValueError):
    pass


def platform_account() -> PlatformAccount:
    """The platform's bank account from the settings, checked (the system check reports the same)."""
    beneficiary = (settings.BILLING_BENEFICIARY or "").strip()
    if not beneficiary:
        raise AccountMisconfigured("TELEMED_BANK_BENEFICIARY is empty")
    try:
        iban = IBAN(settings.BILLING_IBAN).compact
    except (SchwiftyException, ValueError) as error:
        raise AccountMisconfigured(f"TELEMED_BANK_IBAN is not a valid IBAN: {error}") from error
    bic = ""
    if settings.BILLING_BIC:
        try:
            bic = str(BIC(settings.BILLING_BIC))
        except (SchwiftyException, ValueError) as error:
            raise AccountMisconfigured(f"TELEMED_BANK_BIC is not a valid BIC: {error}") from error
    return PlatformAccount(beneficiary=beneficiary[:70], iban=iban, bic=bic)


def epc_qr(*, account: PlatformAccount, amount: Decimal, reference: str) -> segno.QRCode:
    """The EPC069-12 QR code of a transfer: beneficiary, IBAN, BIC, amount, creditor reference."""
    return helpers.make_epc_qr(
        name=account.beneficiary, iban=account.iban, bic=account.bic or None, amount=amount, reference=reference
    )


def epc_qr_data_uri(*, account: PlatformAccount, amount: Decimal, reference: str) -> str:
    return epc_qr(account=account, amount=amount, reference=reference).png_data_uri(scale=5, border=4)


def epc_qr_png(*, account: PlatformAccount, amount: Decimal, reference: str) -> bytes:
    import io

    stream = io.BytesIO()
    epc_qr(account=account, amount=amount, reference=reference).save(stream, kind="png", scale=5, border=4)
    return stream.getvalue()
