"""The payout file: one SEPA credit transfer initiation, ISO 20022 pain.001.001.09.

Produced by sepaxml (which supports .09 and ships the schema), then validated with lxml
against that XSD before anything is stored: a file that the bank would refuse is never
handed to staff.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path

from sepaxml import SepaTransfer

from telemed.billing import xsd
from telemed.billing.transfer import PlatformAccount

SCHEMA = "pain.001.001.09"


@dataclass(frozen=True)
class Payee:
    name: str
    iban: str
    amount: Decimal
    description: str
    end_to_end_id: str


class PayoutFileInvalid(xsd.SchemaInvalid):
    pass


def schema_path() -> Path:
    """sepaxml's copy of the ISO 20022 schema (an installed package is a directory on disk)."""
    return Path(str(resources.files("sepaxml").joinpath("schemas", f"{SCHEMA}.xsd")))


def _cents(amount: Decimal) -> int:
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError("an amount with fractions of a cent")
    return int(cents)


def build(*, account: PlatformAccount, payees: list[Payee], execution_date: datetime.date) -> tuple[str, bytes]:
    """The pain.001.001.09 document paying ``payees`` from the platform's account: (message id, XML)."""
    config = {"name": account.beneficiary, "IBAN": account.iban, "batch": True, "currency": "EUR"}
    if account.bic:
        config["BIC"] = account.bic
    transfer = SepaTransfer(config, schema=SCHEMA, clean=True)
    for payee in payees:
        transfer.add_payment(
            {
                "name": payee.name,
                "IBAN": payee.iban,
                "amount": _cents(payee.amount),
                "execution_date": execution_date,
                "description": payee.description,
                "endtoend_id": payee.end_to_end_id,
            }
        )
    # sepaxml's own check uses xmlschema; ours below uses lxml, so the file is checked twice by two validators.
    xml = transfer.export(validate=True)
    validate(xml)
    return transfer.msg_id, xml


def validate(xml: bytes) -> None:
    xsd.validate(xml, schema_path(), error=PayoutFileInvalid)
