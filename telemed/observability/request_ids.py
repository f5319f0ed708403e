"""The request id: one token that follows a request through its log lines, the response and the
tasks it enqueues (telemed/workers carries it into the task's own log lines).

A proxy or a client may send ``X-Request-ID``; it is kept when it is a safe token (letters, digits,
``-``, ``_``, ``.``, at most ``MAX_LENGTH`` characters), because an operator then follows one id from
the proxy's log to ours. Anything else (too long, spaces, control characters that would forge log
lines) is replaced by a fresh uuid4. The id is echoed in the response's ``X-Request-ID``."""

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Iterator

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
MAX_LENGTH = 64
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def request_id_accept(value: str | None) -> str:
    """The id to use for a request that came with ``value``: the value itself when it is a safe
    token, otherwise a new one."""
    if value and len(value) <= MAX_LENGTH and _SAFE.fullmatch(value):
        return value
    return str(uuid.uuid4())


@contextlib.contextmanager
def request_id_bound(value: str | None) -> Iterator[None]:
    """Everything logged inside the block (in this thread or task) carries ``value``."""
    token = current_request_id.set(value)
    try:
        yield
    finally:
        current_request_id.reset(token)


class RequestIdMiddleware:
    """First in the chain, so that the log lines of every later middleware carry the id too.

    The id stays set after the chain returns, because Django logs a 4xx/5xx response ("Not Found:
    …") after the whole chain; it is cleared when the request finishes (``request_id_clear``, on
    ``request_finished``), and every request sets its own anyway."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_accept(request.META.get(META_KEY))
        current_request_id.set(request.request_id)
        response = self.get_response(request)
        response[HEADER] = request.request_id
        return response


def request_id_clear(**kwargs) -> None:
    """Receiver of ``request_finished``: what is logged after a request is not that request's."""
    current_request_id.set(None)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record ("-" outside a request or a task that carries one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get() or "-"
        return True
