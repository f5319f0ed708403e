"""Italian identifiers, validated by maintained libraries (python-stdnum, schwifty).

Each ``clean_*`` returns the canonical form or raises ``InvalidIdentifier`` with a
message id that the forms translate; no checksum is computed by hand here.
"""

import datetime

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.it import codicefiscale, iva


class InvalidIdentifier(ValueError):
    """The value is not a valid identifier; ``code`` says which rule failed."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def clean_codice_fiscale(value: str) -> str:
    try:
        number = codicefiscale.validate(value)
    except StdnumError as exc:
        raise InvalidIdentifier("codice_fiscale_invalid") from exc
    if len(number) != 16:
        # An 11-digit "codice fiscale" is a company's; people have 16 characters.
        raise InvalidIdentifier("codice_fiscale_invalid")
    return number


def check_codice_fiscale_matches(number: str, *, birth_date: datetime.date, sex: str) -> None:
    """The birth date and sex encoded in a person's codice fiscale must match the declared ones.

    ``sex`` is ``"M"`` or ``"F"``. The century is ambiguous in the code, so only
    day, month and the last two digits of the year are compared.
    """
    encoded = codicefiscale.get_birth_date(number, minyear=1900)
    if (encoded.day, encoded.month, encoded.year % 100) != (birth_date.day, birth_date.month, birth_date.year % 100):
        raise InvalidIdentifier("codice_fiscale_birth_date_mismatch")
    if codicefiscale.get_gender(number) != sex:
        raise InvalidIdentifier("codice_fiscale_sex_mismatch")


def clean_partita_iva(value: str) -> str:
    try:
        return iva.validate(value)
    except StdnumError as exc:
        raise InvalidIdentifier("partita_iva_invalid") from exc


def clean_iban(value: str) -> str:
    try:
        return IBAN(value).compact
    except (SchwiftyException, ValueError) as exc:
        raise InvalidIdentifier("iban_invalid") from exc


def format_iban(value: str) -> str:
    return IBAN(value).formatted
