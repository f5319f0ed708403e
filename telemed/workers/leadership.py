"""One active process of a role, the others standing by to take over: a PostgreSQL advisory lock
(``pg_try_advisory_lock``) held by the active one.

- The lock lives in a connection of its own, outside Django's (whose connections go back to a
  pool, and a session lock would go with them to whoever takes it next). The session ends when the
  process dies, however it dies (the server sees the socket close), and the lock with it; a
  standby's next try takes it.
- The holder checks now and then that its connection still stands (``acquire`` again); a lost
  connection (the server restarted) is a lost lock, and it stands by like the others.
- The lock decides who works, not what is right: the work itself must stay safe with two
  processes at it (rows claimed with ``SKIP LOCKED``, unique keys), because for a moment after a
  lost connection two can believe they are active.
- Advisory locks belong to one database: two deployments (or test databases) on one server
  do not exclude each other.
- SQLite has no such lock and needs none: there the platform runs as one process of each role on
  one machine (``serve``), so ``acquire`` always answers yes.
"""

import hashlib
import logging

import psycopg
from django.db import connection

logger = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """The advisory lock's 64-bit key for a role's name: stable across processes and releases."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class LeaderLock:
    def __init__(self, name: str):
        self.name = name
        self.key = lock_key(name)
        self._session: psycopg.Connection | None = None
        self._held = False

    def acquire(self) -> bool:
        """True when this process holds the lock (it just took it, or its session still stands)."""
        if connection.vendor != "postgresql":
            return True
        try:
            if self._session is None or self._session.closed:
                self._held = False
                self._session = psycopg.connect(**self._connection_params(), autocommit=True)
            if self._held:
                self._session.execute("SELECT 1")
            else:
                row = self._session.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
                self._held = bool(row and row[0])
        except psycopg.Error:
            logger.warning("%s: the lock's connection failed; standing by", self.name, exc_info=True)
            self._close()
        return self._held

    def release(self) -> None:
        """Give the lock up (a clean stop), so that a standby takes over at its next try.

        The unlock is said and answered before the connection closes: a closed connection frees
        the lock only when the server has ended its session, which can come after a standby's
        next try (the standby would then wait a whole interval for nothing)."""
        if self._held and self._session is not None and not self._session.closed:
            try:
                self._session.execute("SELECT pg_advisory_unlock(%s)", [self.key])
            except psycopg.Error:
                pass  # the session is going anyway, and the lock with it
        self._close()

    def _close(self) -> None:
        session, self._session, self._held = self._session, None, False
        if session is not None:
            try:
                session.close()  # ending the session releases its advisory locks
            except psycopg.Error:
                pass

    @staticmethod
    def _connection_params() -> dict:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)  # Django's own cursor class, for its own connections
        params.setdefault("connect_timeout", 10)  # a server that does not answer is a lock not taken
        return params
