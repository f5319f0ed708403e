"""The request id of the work at hand: the request being answered, or the task that a request
enqueued. It lives here, at the bottom, because everything that enqueues a task must be able to
carry it (``task_batches`` here, the task backend in telemed/workers); the middleware that sets it
for a request and the log filter that writes it are telemed/observability's.

An id given from outside (a proxy's ``X-Request-ID``) is kept when it is a safe token (letters,
digits, ``-``, ``_``, ``.``, at most ``MAX_LENGTH`` characters): an operator then follows one id
from the proxy's log to ours. Anything else (too long, spaces, control characters that would forge
log lines) is replaced by a fresh uuid4."""

import contextlib
import contextvars
import re
import uuid
from collections.abc import Iterator

MAX_LENGTH = 64
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Where an enqueued task's row keeps the id: beside "args" and "kwargs" in its args_kwargs JSON,
# which django-tasks-db reads by name, so the task function never sees it.
TASK_KEY = "request_id"

current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def request_id_accept(value: str | None) -> str:
    """The id to use for work that came with ``value``: the value itself when it is a safe token,
    otherwise a new one."""
    if value and len(value) <= MAX_LENGTH and _SAFE.fullmatch(value):
        return value
    return str(uuid.uuid4())


@contextlib.contextmanager
def request_id_bound(value: str | None) -> Iterator[None]:
    """Everything done inside the block (in this thread or task) belongs to ``value``."""
    token = current_request_id.set(value)
    try:
        yield
    finally:
        current_request_id.reset(token)


def args_kwargs_with_request_id(args_kwargs: dict) -> dict:
    """A task row's ``args_kwargs``, carrying the current request id if there is one."""
    request_id = current_request_id.get()
    if request_id:
        args_kwargs[TASK_KEY] = request_id
    return args_kwargs


def request_id_of_task(args_kwargs) -> str | None:
    """The request id a queued task's ``args_kwargs`` carries, if any."""
    value = args_kwargs.get(TASK_KEY) if isinstance(args_kwargs, dict) else None
    return request_id_accept(value) if value else None
