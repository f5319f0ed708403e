"""What a restore proves, and the figures a backup takes of its snapshot for it.

Each check reads the restored database through its alias and the restored storage, and says in
plain words what is wrong:
- documents: every file whose row records a digest (documents, DICOM instances, signed report PDFs)
  is in the new storage with the recorded size and digest;
- stored files: every file the restored database refers to is in the new storage, and every
  restored file has the size and SHA-256 of the manifest;
- ledger: every journal sums to zero, so the whole ledger does, and each account's balance is the
  one of the snapshot;
- invoice numbering: each doctor's series of a kind and year runs 1..N without gaps, and its
  counter stands at N, so the next number issued is N + 1; the series are those of the snapshot;
- audit trail: the same entries as in the snapshot (their number and a SHA-256 over all of them in
  order of id), none lost or changed. The trail has no hash chain of its own: the fingerprint is
  taken at backup time, inside the snapshot.
"""

import hashlib
import json
from dataclasses import dataclass, field

from django.db.models import Count, Max, Sum

from telemed.audit.models import AuditEntry
from telemed.backups import stored_files
from telemed.billing.ledger import cents
from telemed.billing.models import Invoice, InvoiceCounter, LedgerEntry

AUDIT_COLUMNS = ("id", "at", "actor_id", "actor_label", "action", "target_type", "target_id", "target_label",
                 "patient_id", "ip_address", "user_agent")  # fmt: skip
SHOWN = 10  # problems listed per check; the rest counted


@dataclass
class Check:
    name: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        head = f"{'OK  ' if self.ok else 'FAIL'} {self.name}: {self.checked} checked"
        if self.ok:
            return head
        more = len(self.problems) - SHOWN
        listed = [f"       - {problem}" for problem in self.problems[:SHOWN]]
        tail = [f"       … and {more} more"] if more > 0 else []
        return "\n".join([f"{head}, {len(self.problems)} wrong", *listed, *tail])


def figures(using: str) -> dict:
    """What the restore must find again, read from the snapshot (the alias ``using``)."""
    return {"ledger": _ledger(using), "invoices": _invoice_series(using), "audit": _audit(using)}


def _ledger(using: str) -> dict:
    rows = LedgerEntry.objects.using(using).values_list("account").annotate(total=Sum("amount")).order_by("account")
    return {
        "entries": LedgerEntry.objects.using(using).count(),
        "balances": {account: str(cents(total)) for account, total in rows},
    }


def _invoice_series(using: str) -> list[dict]:
    counters = InvoiceCounter.objects.using(using).order_by("doctor_id", "kind", "year")
    return [{"doctor": c.doctor_id, "kind": c.kind, "year": c.year, "last": c.last_number} for c in counters]


def _audit(using: str) -> dict:
    digest, count = hashlib.sha256(), 0
    for row in AuditEntry.objects.using(using).order_by("id").values_list(*AUDIT_COLUMNS).iterator():
        digest.update(json.dumps([str(value) if value is not None else None for value in row]).encode() + b"\n")
        count += 1
    return {"entries": count, "sha256": digest.hexdigest()}


@dataclass(frozen=True)
class ReadBack:
    """A restored file as the new storage gives it back: size and digests (None: not there)."""

    size: int
    digests: dict[str, str]


def read_back(storage, manifest_files: list[dict]) -> dict[str, ReadBack | None]:
    """Every restored file read once from the new storage, with each digest a check compares."""
    found: dict[str, ReadBack | None] = {}
    for entry in manifest_files:
        if not storage.exists(entry["path"]):
            found[entry["path"]] = None
            continue
        with storage.open(entry["path"], "rb") as stream:
            size, digests = stored_files.copy_and_hash(stream, None, *stored_files.ALGORITHMS)
        found[entry["path"]] = ReadBack(size, digests)
    return found


def stored(using: str, manifest_files: list[dict], restored: dict[str, ReadBack | None]) -> Check:
    check = Check("stored files (manifest)")
    for reference in stored_files.references(using):
        if reference.required and reference.name not in restored:
            check.problems.append(f"{reference.model} {reference.pk} refers to {reference.name}, not in the backup")
    for entry in manifest_files:
        check.checked += 1
        copy = restored.get(entry["path"])
        if copy is None:
            check.problems.append(f"{entry['path']}: not in the restored storage")
        elif (copy.size, copy.digests["sha256"]) != (entry["size"], entry["sha256"]):
            check.problems.append(f"{entry['path']}: restored copy differs from the manifest")
    return check


def documents(using: str, restored: dict[str, ReadBack | None]) -> Check:
    check = Check("documents (recorded digests)")
    for row in stored_files.expected(using):
        check.checked += 1
        where = f"{row.model} {row.pk} ({row.name})"
        copy = restored.get(row.name)
        if copy is None:
            check.problems.append(f"{where}: file missing")
        elif copy.size != row.size:
            check.problems.append(f"{where}: {copy.size} bytes, the database records {row.size}")
        elif copy.digests.get(row.algorithm) != row.digest:
            check.problems.append(
                f"{where}: {row.algorithm} {copy.digests.get(row.algorithm)}, the database records {row.digest}"
            )
    return check


def ledger(using: str, recorded: dict) -> Check:
    check = Check("ledger")
    entries = LedgerEntry.objects.using(using)
    check.checked = entries.count()
    total = cents(entries.aggregate(total=Sum("amount"))["total"])
    if total != 0:
        check.problems.append(f"the ledger sums to {total}, not 0")
    unbalanced = entries.values("journal").annotate(total=Sum("amount")).exclude(total=0).order_by("journal")
    for row in unbalanced:
        # SQLite sums decimals as floats: a journal is unbalanced only if its sum in cents is not 0.
        if cents(row["total"]) != 0:
            check.problems.append(f"journal {row['journal']} sums to {cents(row['total'])}")
    now = _ledger(using)
    if now["entries"] != recorded["entries"]:
        check.problems.append(f"{now['entries']} entries, the backup had {recorded['entries']}")
    for account in sorted(set(now["balances"]) | set(recorded["balances"])):
        if now["balances"].get(account) != recorded["balances"].get(account):
            check.problems.append(
                f"account {account}: {now['balances'].get(account)}, the backup had {recorded['balances'].get(account)}"
            )
    return check


def invoice_numbering(using: str, recorded: list[dict]) -> Check:
    check = Check("invoice numbering")
    counters = {(row["doctor"], row["kind"], row["year"]): row["last"] for row in _invoice_series(using)}
    issued = (
        Invoice.objects.using(using)
        .values("doctor_id", "kind", "year")
        .annotate(count=Count("id"), last=Max("number"))
        .order_by("doctor_id", "kind", "year")
    )
    for row in issued:
        series = (row["doctor_id"], row["kind"], row["year"])
        check.checked += 1
        name = f"doctor {series[0]} {series[1]} {series[2]}"
        if row["count"] != row["last"]:
            check.problems.append(f"{name}: {row['count']} numbers issued up to {row['last']} (a gap)")
        if counters.pop(series, None) != row["last"]:
            check.problems.append(f"{name}: the next number would not be {row['last'] + 1}")
    for series, last in counters.items():
        if last:
            check.problems.append(f"doctor {series[0]} {series[1]} {series[2]}: counter at {last}, no invoice issued")
    now = _invoice_series(using)
    if now != recorded:
        check.problems.append("the invoice series differ from those of the backup")
    return check


def audit_trail(using: str, recorded: dict) -> Check:
    check = Check("audit trail")
    now = _audit(using)
    check.checked = now["entries"]
    if now["entries"] != recorded["entries"]:
        check.problems.append(f"{now['entries']} entries, the backup had {recorded['entries']}")
    elif now["sha256"] != recorded["sha256"]:
        check.problems.append("the entries differ from those of the backup")
    return check
