"""Every message a background task sends (an e-mail, a notification) is sent once, even when
the task runs again.

A task can run twice: its worker died and the reaper gave it back (telemed/workers). Each
message therefore carries an idempotency key: the id of the task run that sends it plus what
tells its recipients apart (``task_key``), or a key of its own when the thing it announces can
only be announced once (a notification's e-mail, a reminder's delivery).

Rules:
- The key is inserted (``message_claim``) in the transaction that records the message as sent,
  together with what the caller records about it (``before_send``: ``emailed_at``, a counter).
  A key already there means the message already left: nothing is sent.
- Two runs at the same time cannot both send: the second one's insert waits on the first's
  row lock (PostgreSQL) or write lock (SQLite) and then finds the key.
- On SMTP (``telemed.outbox.smtp``) that transaction commits at the "." that ends the
  message's body, so a process killed at any point either sent nothing and recorded nothing,
  or recorded the message and the server receives it. On PostgreSQL the "." and the COMMIT are
  written one right after the other, in that order, and only then are their answers read
  (``_commit_after``): a kill in the microseconds between the two writes leaves a message and
  no record, and the next run sends it again — a repeat with the same Message-ID (derived from
  the key), never a loss (see smtp.py). A server that refuses the message undoes the key, so
  the next run sends it.
- With a backend that has no network between us and the mailbox (the console in development,
  memory in tests) the message is sent inside the transaction.
- In-app notifications have no window at all: they are rows in the same transaction.
"""

import hashlib

from django.core import mail
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction

from telemed.outbox import smtp
from telemed.outbox.models import SentMessage


def task_key(context, *parts) -> str:
    """The key of one message sent by a task run (``context`` as given by ``@task(takes_context=True)``)."""
    return ":".join([context.task_result.task.name, str(context.task_result.id), *map(str, parts)])


def message_claim(*, key: str) -> bool:
    """Inside the caller's transaction: True if the message with ``key`` is this run's to send,
    False if it was already sent. Its row stays locked until the caller's transaction ends."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("message_claim() must run inside the transaction that sends the message")
    try:
        with transaction.atomic():
            SentMessage.objects.create(key=key)
    except IntegrityError:
        return False
    return True


class _Withdrawn(Exception):
    """``before_send`` answered False: what the message announces is no longer so."""


def email_send_once(*, key: str, message: EmailMessage, before_send=None, undo_before_send=None) -> bool:
    """Send ``message`` unless an e-mail with ``key`` was already sent; returns whether it was
    sent now. ``before_send`` (no arguments) runs in the transaction that records it as sent;
    if it returns False (the request was paid meanwhile…), nothing is recorded nor sent. If the
    server refuses the message, its key goes and ``undo_before_send`` (if given) takes back
    what ``before_send`` recorded, in one transaction, so that a next run sends it."""
    message.extra_headers.setdefault("Message-ID", f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@telemed>")
    if SentMessage.objects.filter(key=key).exists():
        return False  # the common repeat: no need to talk to the server at all

    database = transaction.get_connection()
    # Only a transaction of our own can be committed right behind the "." (a caller's block
    # commits later: the "." then goes at the end of ours, and a rollback of theirs is a repeat).
    pipelined = database.vendor == "postgresql" and not database.in_atomic_block

    def record(before_commit) -> bool:
        # ``before_commit`` (the "." or, with no network hop, the whole message) goes right
        # before the COMMIT: a kill between the two is a repeat on the next run, never a loss.
        try:
            with transaction.atomic():
                if not message_claim(key=key):
                    return False
                if before_send is not None and before_send() is False:
                    raise _Withdrawn
                if pipelined:
                    _commit_after(before_commit)
                else:
                    before_commit()
        except _Withdrawn:
            return False
        return True

    connection = message.connection or mail.get_connection()
    if isinstance(connection, smtp.EmailBackend):

        def refused() -> None:
            with transaction.atomic():
                SentMessage.objects.filter(key=key).delete()
                if undo_before_send is not None:
                    undo_before_send()

        return connection.send_with_commit_point(message, record=record, on_refused=refused)
    # No network between us and the mailbox (the console, memory in tests): sent inside.
    return record(message.send)


def _commit_after(write) -> None:
    """On PostgreSQL, inside the outermost atomic block: call ``write()``, then send the COMMIT
    right after it, before either answer is read.

    ``write()`` goes first so that a process killed between the two leaves the transaction
    uncommitted (the server rolls back when its client vanishes): what ``write()`` sent goes
    again on the next run, a repeat rather than a record of something that never left. Neither
    waits for the other's answer: the window is two writes wide, not a round trip.

    The block's own exit then finds the transaction committed and has nothing left to do but
    run its on_commit callbacks. A COMMIT that fails raises, after ``write()`` has run."""
    from psycopg import errors, generators, pq

    database = transaction.get_connection()
    if database.savepoint_ids or not database.in_atomic_block:
        raise RuntimeError("_commit_after() must run in the outermost atomic block")
    raw = database.connection
    with raw.lock:
        write()
        raw.pgconn.send_query(b"COMMIT")
        raw.wait(generators.send(raw.pgconn))
        results = raw.wait(generators.fetch_many(raw.pgconn))
    failed = [result for result in results if result.status != pq.ExecStatus.COMMAND_OK]
    if failed:
        raise errors.error_from_result(failed[0], encoding=raw.pgconn._encoding)
    if results[-1].command_status != b"COMMIT":  # a failed transaction answers ROLLBACK
        raise errors.InFailedSqlTransaction("the transaction was rolled back at its commit")
