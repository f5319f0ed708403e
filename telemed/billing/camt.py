"""Read an ISO 20022 camt.053 bank-to-customer statement: the credits to the platform's account.

The parser is lxml with everything that could reach outside switched off (no DTDs, no
entities, no network, no huge trees); a file that is not XML, not a camt.053, or a
statement of another account is refused with a message that says which. Only booked
credit entries are returned; debits (the bank's own charges, outgoing payouts) are
counted but not reconciled here.
"""

import datetime
import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import BinaryIO

from django.utils.translation import gettext as _
from lxml import etree

NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d\d)$")
MAX_BYTES = 20 * 1024 * 1024


class StatementError(ValueError):
    """The file cannot be used; the message is for the person who uploaded it."""


@dataclass(frozen=True)
class Credit:
    entry_key: str
    amount: Decimal
    currency: str
    booked_on: datetime.date
    debtor_name: str
    debtor_iban: str
    structured_reference: str
    remittance: str


@dataclass(frozen=True)
class Statement:
    message_id: str
    statement_id: str
    account_iban: str
    credits: tuple[Credit, ...]
    entries: int
    sha256: str


def _places(amount: Decimal) -> int:
    """Digits after the decimal point of a finite amount, as written ("1.230" has three)."""
    exponent = amount.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def parse(stream: BinaryIO) -> Statement:
    """Parse the uploaded file. Reads at most ``MAX_BYTES`` (a statement of one account is far smaller)."""
    digest = hashlib.sha256()
    feeder = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
    )
    size = 0
    try:
        while block := stream.read(64 * 1024):
            size += len(block)
            if size > MAX_BYTES:
                raise StatementError(_("The file is too large for a bank statement (at most 20 MB)."))
            digest.update(block)
            feeder.feed(block)
        root = feeder.close()
    except etree.XMLSyntaxError as error:
        raise StatementError(_("This file is not a valid XML document: %(error)s") % {"error": error.msg}) from error
    if size == 0:
        raise StatementError(_("The file is empty."))
    if root.getroottree().docinfo.doctype:
        raise StatementError(_("The file declares a document type: bank statements never do; it is refused."))
    return _read(root, digest.hexdigest())


def _read(root, sha256: str) -> Statement:
    qname = etree.QName(root)
    match = NAMESPACE.match(qname.namespace or "")
    if qname.localname != "Document" or match is None:
        raise StatementError(
            _("This is not an ISO 20022 camt.053 bank statement (its format is %(format)s).")
            % {"format": qname.namespace or qname.localname}
        )
    ns = {"c": qname.namespace}
    message = root.find("c:BkToCstmrStmt", ns)
    if message is None:
        raise StatementError(_("The statement has no BkToCstmrStmt part."))
    message_id = _text(message, "c:GrpHdr/c:MsgId", ns)
    statements = message.findall("c:Stmt", ns)
    if not statements:
        raise StatementError(_("The file contains no statement."))
    accounts = {_text(stmt, "c:Acct/c:Id/c:IBAN", ns).replace(" ", "").upper() for stmt in statements}
    if len(accounts) != 1 or "" in accounts:
        raise StatementError(_("The file must contain the statement of exactly one account, identified by its IBAN."))
    credits, entries = [], 0
    for stmt in statements:
        statement_id = _text(stmt, "c:Id", ns)
        for position, entry in enumerate(stmt.findall("c:Ntry", ns)):
            entries += 1
            credit = _credit(entry, ns, account=next(iter(accounts)), statement_id=statement_id, position=position)
            if credit is not None:
                credits.append(credit)
    return Statement(
        message_id=message_id,
        statement_id=_text(statements[0], "c:Id", ns) or message_id,
        account_iban=next(iter(accounts)),
        credits=tuple(credits),
        entries=entries,
        sha256=sha256,
    )


def _text(node, path: str, ns: dict) -> str:
    found = node.find(path, ns)
    return (found.text or "").strip() if found is not None else ""


def _status(entry, ns) -> str:
    # camt.053.001.02 has <Sts>BOOK</Sts>; later versions <Sts><Cd>BOOK</Cd></Sts>.
    return _text(entry, "c:Sts/c:Cd", ns) or _text(entry, "c:Sts", ns)


def _credit(entry, ns: dict, *, account: str, statement_id: str, position: int) -> Credit | None:
    if _text(entry, "c:CdtDbtInd", ns) != "CRDT" or _status(entry, ns) not in {"BOOK", ""}:
        return None
    if _text(entry, "c:RvslInd", ns).lower() == "true":
        return None  # a reversal of one of our own payouts, not a payment to us
    amount_node = entry.find("c:Amt", ns)
    try:
        amount = Decimal((amount_node.text or "").strip()) if amount_node is not None else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0 or _places(amount) > 2:
        raise StatementError(
            _("Entry %(n)d of statement %(id)s has no valid amount.") % {"n": position + 1, "id": statement_id}
        )
    currency = (amount_node.get("Ccy") or "").upper()
    booked = _text(entry, "c:BookgDt/c:Dt", ns) or _text(entry, "c:BookgDt/c:DtTm", ns)[:10]
    try:
        booked_on = datetime.date.fromisoformat(booked)
    except ValueError as error:
        raise StatementError(
            _("Entry %(n)d of statement %(id)s has no valid booking date.") % {"n": position + 1, "id": statement_id}
        ) from error
    details = entry.find("c:NtryDtls/c:TxDtls", ns)
    debtor_name = debtor_iban = structured = ""
    unstructured = []
    if details is not None:
        debtor_name = _text(details, "c:RltdPties/c:Dbtr/c:Nm", ns) or _text(
            details, "c:RltdPties/c:Dbtr/c:Pty/c:Nm", ns
        )
        debtor_iban = _text(details, "c:RltdPties/c:DbtrAcct/c:Id/c:IBAN", ns)
        structured = _text(details, "c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", ns)
        unstructured = [(node.text or "").strip() for node in details.findall("c:RmtInf/c:Ustrd", ns)]
    unstructured.append(_text(entry, "c:AddtlNtryInf", ns))
    bank_reference = _text(entry, "c:AcctSvcrRef", ns) or (
        _text(details, "c:Refs/c:AcctSvcrRef", ns) if details is not None else ""
    )
    if bank_reference:
        key = f"{account}:{bank_reference}"
    else:
        # No reference from the bank: the entry's own fields and place identify it within its statement.
        fields = [
            account,
            statement_id,
            str(position),
            str(amount),
            currency,
            booked,
            debtor_iban,
            structured,
            *unstructured,
        ]
        key = f"{account}:h:" + hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:40]
    return Credit(
        entry_key=key[:100],
        amount=amount,
        currency=currency,
        booked_on=booked_on,
        debtor_name=debtor_name[:140],
        debtor_iban=debtor_iban.replace(" ", "")[:34],
        structured_reference=structured.replace(" ", "").upper()[:35],
        remittance=" ".join(part for part in unstructured if part)[:500],
    )
