"""How long each kind of data is kept, in one place, and the daily sweep that enforces it.

The rules (``RULES``; docs/PRIVACY.md's retention table is made from them and a test keeps the
two the same):

- ``health_records`` (Welbox documents and radiology studies of a patient): kept until the patient
  deletes them or their account; erased with the account, files included.
- ``medbox`` (a doctor's Medbox: the records the doctor holds as controller): kept until the doctor
  deletes them or their account; a patient's erasure does not touch them.
- ``reports`` (referti and prescriptions, signed): kept with the doctor who signed them, as their
  record; the patient's Welbox copy goes with the patient's account.
- ``consults_visits`` (consults, their threads and the studies they were asked with; visits): the
  doctor's clinical record of the service; kept with the doctor.
- ``messages``: kept while both accounts exist; the texts a person wrote are erased with their
  account.
- ``agenda`` (reminders and the health agenda): kept until the patient deletes them or their
  account.
- ``accounting`` (invoices, credit notes, proformas, payments, payouts, the ledger): 10 years from
  issue (art. 2220 c.c.), whatever happens to the accounts; never removed by the sweep.
- ``access_log`` (who read which clinical record): 24 months, or the longer
  ``AUDIT_RETENTION_MONTHS`` (``audit.services.audit_retention_months``), then purged by the sweep
  (and by the audit app's own purge).
- ``security_events`` (the account's security trail): 24 months, then purged by the sweep.
- ``notifications``: 12 months, then purged by the sweep.
- ``data_exports`` (the ZIP of an access request): 7 days, then deleted with its file.
- ``erasure_requests``: an unconfirmed request lapses with its link (2 days); a confirmed one is
  carried out at the end of the grace period (``settings.ERASURE_GRACE_DAYS``) by its own task,
  and by the sweep if that task was lost.
- ``accounts`` (name, e-mail, profile, consents, sessions): while the account exists; anonymised
  by its erasure. The anonymised row stays because kept invoices and log entries point to it.

The sweep (``retention_run``) runs once a day as a chain of tasks with one chain at a time, like
the audit purge: run twice, the second run finds the chain moved on and does nothing.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from telemed.accounts.security_log import security_events_purge
from telemed.audit.services import AUDIT_RETENTION_FLOOR_MONTHS, audit_retention_purge
from telemed.lib.task_chains import chain_is_current, chain_next, chain_start, chain_state
from telemed.notifications.services import notifications_purge
from telemed.rights import erasure, services, tasks
from telemed.rights.models import RetentionRun

SWEEP_INTERVAL = datetime.timedelta(days=1)
SECURITY_EVENTS_MONTHS = 24
NOTIFICATIONS_MONTHS = 12
EXPORT_DAYS = 7
ACCOUNTING_YEARS = 10


@dataclass(frozen=True)
class Rule:
    kind: str
    data: str  # what is kept (as docs/PRIVACY.md names it)
    period: str  # for how long
    basis: str  # why
    # What the sweep does on ``now``: returns how many rows it removed. None: nothing is removed
    # by time (an owner's action or an erasure removes it, or the law keeps it).
    sweep: Callable[[datetime.datetime], int] | None = None


def _older_than(**delta) -> Callable[[datetime.datetime], datetime.datetime]:
    return lambda now: now - relativedelta(**delta)


RULES: tuple[Rule, ...] = (
    Rule("health_records", "Welbox documents and radiology studies (files included)",
         "until the patient deletes them or their account", "the patient's explicit consent (art. 9(2)(a) GDPR)"),
    Rule("medbox", "Medbox documents and studies (the doctor's own records)",
         "until the doctor deletes them or their account", "the doctor is the controller of their records"),
    Rule("reports", "signed reports and prescriptions",
         "with the doctor who signed them; the patient's copy goes with the patient's account",
         "the doctor's clinical record"),
    Rule("consults_visits", "consults, their threads and studies, visits",
         "with the doctor who gave them", "the doctor's clinical record of the service"),
    Rule("messages", "conversation messages",
         "while the account exists; a person's texts are erased with their account", "contract (art. 6(1)(b))"),
    Rule("agenda", "reminders and the health agenda",
         "until the patient deletes them or their account", "contract (art. 6(1)(b))"),
    Rule("accounting", "invoices, credit notes, proformas, payments, payouts, ledger",
         f"{ACCOUNTING_YEARS} years from issue, also after an erasure", "art. 2220 c.c.; art. 6(1)(c) GDPR"),
    Rule("access_log", "access log of clinical records",
         f"{AUDIT_RETENTION_FLOOR_MONTHS} months, or the longer `AUDIT_RETENTION_MONTHS`",
         "Garante, dossier sanitario guidelines",
         lambda now: audit_retention_purge(now=now)),
    Rule("security_events", "security trail of an account",
         f"{SECURITY_EVENTS_MONTHS} months", "art. 32 GDPR (security of processing)",
         lambda now: security_events_purge(before=_older_than(months=SECURITY_EVENTS_MONTHS)(now))),
    Rule("notifications", "notifications", f"{NOTIFICATIONS_MONTHS} months", "contract (art. 6(1)(b))",
         lambda now: notifications_purge(before=_older_than(months=NOTIFICATIONS_MONTHS)(now))),
    Rule("data_exports", "data export ZIPs", f"{EXPORT_DAYS} days", "art. 15 and 20 GDPR (the request itself)",
         lambda now: services.exports_purge(before=_older_than(days=EXPORT_DAYS)(now))),
    Rule("erasure_requests", "account deletion requests",
         f"unconfirmed: {erasure.CONFIRM_MAX_AGE.days} days; confirmed: erased after `ERASURE_GRACE_DAYS` (30)",
         "art. 17 GDPR",
         lambda now: erasure.erasures_lapse_unconfirmed(now=now) + erasure.erasures_run_due(now=now)),
    Rule("accounts", "name, e-mail, profile, consents, sessions",
         "while the account exists; anonymised by its erasure", "contract (art. 6(1)(b)); consent (art. 9(2)(a))"),
)  # fmt: skip


# docs/PRIVACY.md holds ``rules_table()`` between these two lines (a test compares them).
TABLE_START = "<!-- retention table: made from telemed/rights/retention.py -->"
TABLE_END = "<!-- end of the retention table -->"


def rules_table() -> str:
    """The retention table of docs/PRIVACY.md (Markdown), made from ``RULES``."""
    lines = ["| kind | data | kept | basis | removed by the daily sweep |", "| --- | --- | --- | --- | --- |"]
    for rule in RULES:
        swept = "yes" if rule.sweep is not None else "no"
        lines.append(f"| `{rule.kind}` | {rule.data} | {rule.period} | {rule.basis} | {swept} |")
    return "\n".join(lines)


def retention_apply(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Apply every rule that removes by time; ``{kind: rows removed}``."""
    now = now or timezone.now()
    return {rule.kind: rule.sweep(now) for rule in RULES if rule.sweep is not None}


# --- the daily chain ---------------------------------------------------------------------------


@transaction.atomic
def retention_schedule() -> bool:
    """Start the daily sweep unless one is waiting; True when one was enqueued (idempotent)."""
    return chain_start(RetentionRun, tasks.retention_sweep)


@transaction.atomic
def retention_run(*, task_id: str | None = None) -> dict[str, int]:
    """Run by the task: apply the rules, then schedule tomorrow's sweep in the same transaction. A
    task that is not the scheduled one (a run again of one that already scheduled its successor)
    does nothing, so that there is only ever one chain."""
    state = chain_state(RetentionRun)
    if not chain_is_current(state, task_id):
        return {}
    removed = retention_apply()
    state.last_run_at = timezone.now()
    state.last_removed = removed
    chain_next(state, tasks.retention_sweep, state.last_run_at + SWEEP_INTERVAL)
    state.save()
    return removed
