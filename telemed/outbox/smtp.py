"""The SMTP backend whose last step is the caller's commit: an e-mail handed over exactly once.

An SMTP server takes responsibility for a message only when it has read the line with a single
"." that ends the DATA section, and it throws away a message whose connection closes before
that line. So the hand-off is split where it can be made atomic with our own database:

1. MAIL FROM, RCPT TO, DATA and the whole message are sent, all but the final ".".
2. ``record(final_dot)`` runs the caller's transaction that records the message as sent (its
   idempotency key); right before its commit it calls ``final_dot``, which writes the "." — or
   it finds the message already sent and answers False.
3. The server's answer to the "." is read.

Where the commit is, is the database's (telemed.outbox.services): on PostgreSQL the "." is
written to the server's socket and the COMMIT to the database's right after it, before either
answer is read, so the two leave the process within microseconds of each other; a process killed
before them leaves no record and no message (the SMTP server drops the unfinished message,
PostgreSQL rolls back a transaction whose client vanished) and one killed after leaves both. One
killed between the two writes leaves the message and no record: the next run sends it again, a
repeat with the same Message-ID (which many mail stores fold into one), never a loss. (The
opposite order, COMMIT then ".", made that same window a lost e-mail recorded as sent, and the
reminders' crash test hit it on a loaded machine, where the COMMIT's write can hand the CPU to
the database's process before the next line runs; waiting for the server's answer to the "."
before committing, as this did first, widened the repeat window to a whole round trip.) On
SQLite the "." is written and the commit, this process's own file write, follows it.

A COMMIT that fails after the "." left (the database went away at that instant) leaves a
message sent but not recorded: the error propagates, the task runs again and sends it again —
a repeat, the lesser harm than a loss. The e-mails this carries are never the only channel:
the in-app notification or the page they announce is written in the caller's own transaction.

A server that refuses the message after the "." (a content filter, a full mailbox) makes the
caller undo its record (``on_refused``) and the error propagates, so the task is tried again.

The database transaction no longer spans the SMTP conversation: on SQLite the write lock is
held for the commit only, not while the server answers.
"""

import re
import smtplib
import socket

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as DjangoEmailBackend
from django.core.mail.message import sanitize_address

_LEADING_PERIOD = re.compile(rb"(?m)^\.")  # RFC 5321 4.5.2: a line starting with "." gets another


class EmailBackend(DjangoEmailBackend):
    """Django's SMTP backend (used as such by ``send_messages``) plus ``send_with_commit_point``."""

    def open(self) -> bool | None:
        opened = super().open()
        if opened and self.connection is not None and self.connection.sock is not None:
            # The final "." is a write of its own right after the body's, with no answer read in
            # between: Nagle's algorithm held it until the server acknowledged the body, which a
            # server does only when its delayed-ACK timer fires (40 ms on Linux): tens of
            # milliseconds per e-mail, a few dozen e-mails a second per worker at most.
            self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return opened

    def send_with_commit_point(self, email_message, record, on_refused) -> bool:
        """Hand ``email_message`` over with ``record(final_dot)`` between the body and its final ".".

        ``record`` calls ``final_dot()`` right before its commit. Returns False (and sends nothing)
        when ``record`` returns False without having called it."""
        recipients = email_message.recipients()
        if not recipients:
            return False
        new_connection = self.open()
        try:
            return self._send_with_commit_point(email_message, recipients, record, on_refused)
        finally:
            if new_connection:
                self.close()

    def _send_with_commit_point(self, email_message, recipients, record, on_refused) -> bool:
        connection = self.connection
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        sender = sanitize_address(email_message.from_email, encoding)
        addresses = [sanitize_address(address, encoding) for address in recipients]
        body = email_message.message().as_bytes(linesep="\r\n")

        connection.ehlo_or_helo_if_needed()
        code, reply = connection.mail(sender)
        if code != 250:
            connection.rset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        refused = {}
        for address in addresses:
            code, reply = connection.rcpt(address)
            if code not in (250, 251):
                refused[address] = (code, reply)
        if len(refused) == len(addresses):
            connection.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        connection.putcmd("data")
        code, reply = connection.getreply()
        if code != 354:
            connection.rset()
            raise smtplib.SMTPDataError(code, reply)
        quoted = _LEADING_PERIOD.sub(b"..", body)
        connection.send(quoted if quoted.endswith(b"\r\n") else quoted + b"\r\n")

        dot_sent = False

        def final_dot() -> None:
            nonlocal dot_sent
            connection.send(b".\r\n")
            dot_sent = True

        try:
            committed = record(final_dot)
        except BaseException:
            # Before the ".", the server drops the unfinished message; after it (the COMMIT
            # failed), the server keeps it and the next run sends it again (module docstring).
            self._abandon(connection)
            raise
        if not committed:
            self._abandon(connection)
            return False
        if not dot_sent:
            raise RuntimeError("record() committed without calling final_dot()")
        try:
            code, reply = connection.getreply()
        except (OSError, smtplib.SMTPException):
            # The network failed (not this process): whether the server kept the message is
            # unknown, and a repeat is the lesser harm than a loss here.
            on_refused()
            raise
        if code != 250:
            on_refused()
            raise smtplib.SMTPDataError(code, reply)
        return True

    def _abandon(self, connection) -> None:
        # Closing without the final "." is how a client withdraws a message mid-DATA: RSET is
        # not a command there, it would be read as a line of the message.
        try:
            connection.close()
        finally:
            self.connection = None
