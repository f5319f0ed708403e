"""Every message a background task sends (an e-mail, a notification) is sent once, even when
the task runs again.

A task can run twice: its worker died and the reaper gave it back (telemed/workers). Each
message therefore carries an idempotency key: the id of the task run that sends it plus what
tells its recipients apart (``task_key``), or a key of its own when the thing it announces can
only be announced once (a notification's e-mail, a reminder's delivery).

Rules:
- The key is inserted (``message_claim``) in the same transaction that sends the message, and
  for an e-mail that transaction commits only after the SMTP server accepted it. A key already
  there means the message already left: nothing is sent. A send that fails rolls the key back,
  so the next run sends it.
- Two runs at the same time cannot both send: the second one's insert waits on the first's
  row lock (PostgreSQL) or write lock (SQLite) and then finds the key.
- What the caller records about the message (``emailed_at``, a counter) goes in the same
  transaction, after the claim.
- The narrow window that remains: the process dies after the SMTP server accepted the message
  and before the COMMIT (a few milliseconds). Then the key is not stored and the next run
  sends it again: an e-mail is never lost, and one kill can double at most the one e-mail in
  flight. Its Message-ID is derived from the key, so a mail client shows the repeat as the same
  message. Marking before sending would instead lose the e-mail to the same kill; for a
  reminder or an invitation a repeat is the lesser harm. (In-app notifications have no such
  window: they are rows in the same transaction.)
- On SQLite the transaction holds the database's write lock while the SMTP server answers;
  the embedded stack relays to a nearby server, where that is milliseconds.
"""

import hashlib

from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction

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


def email_send_once(*, key: str, message: EmailMessage, before_send=None) -> bool:
    """Send ``message`` unless an e-mail with ``key`` was already sent; returns whether it was
    sent now. ``before_send`` (no arguments) runs in the same transaction, once the claim is won."""
    message.extra_headers.setdefault("Message-ID", f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@telemed>")
    with transaction.atomic():
        if not message_claim(key=key):
            return False
        if before_send is not None:
            before_send()
        message.send()
    return True
