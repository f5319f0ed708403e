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

from dataclasses import dataclass, field

from telemed.audit import selectors as audit
from telemed.backups import stored_files
from telemed.billing import selectors as billing

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
    return {"ledger": _ledger(using), "invoices": _invoice_series(using), "audit": audit.audit_fingerprint(using=using)}


def _ledger(using: str) -> dict:
    balances = billing.ledger_balances(using=using)
    return {
        "entries": billing.ledger_entry_count(using=using),
        "balances": {account: str(total) for account, total in balances.items()},
    }


def _invoice_series(using: str) -> list[dict]:
    return [
        {key: row[key] for key in ("doctor", "kind", "year", "last")} for row in billing.invoice_series(using=using)
    ]


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
    now = _ledger(using)
    check.checked = now["entries"]
    unbalanced = billing.ledger_unbalanced_journals(using=using)
    for journal, total in unbalanced:
        check.problems.append(f"journal {journal} sums to {total}")
    total = sum(billing.ledger_balances(using=using).values())
    if total != 0:
        check.problems.append(f"the ledger sums to {total}, not 0")
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
    for series in billing.invoice_series(using=using):
        check.checked += 1
        name = f"doctor {series['doctor']} {series['kind']} {series['year']}"
        if series["issued"] != (series["highest"] or 0):
            check.problems.append(f"{name}: {series['issued']} numbers issued up to {series['highest']} (a gap)")
        if series["last"] != (series["highest"] or 0):
            check.problems.append(
                f"{name}: counter at {series['last']}, highest number {series['highest']}: "
                f"the next number would not be {(series['highest'] or 0) + 1}"
            )
    if _invoice_series(using) != recorded:
        check.problems.append("the invoice series differ from those of the backup")
    return check


def audit_trail(using: str, recorded: dict) -> Check:
    check = Check("audit trail")
    now = audit.audit_fingerprint(using=using)
    check.checked = now["entries"]
    if now["entries"] != recorded["entries"]:
        check.problems.append(f"{now['entries']} entries, the backup had {recorded['entries']}")
    elif now["sha256"] != recorded["sha256"]:
        check.problems.append("the entries differ from those of the backup")
    return check
