"""The request id of each request (telemed/lib/request_ids.py holds it): set by the middleware from
the request's ``X-Request-ID`` or made fresh, echoed in the response, written in every log line by
the filter, and carried by the tasks the request enqueues (telemed/workers carries it into the
task's own log lines)."""

import logging

from telemed.lib.request_ids import current_request_id, request_id_accept

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"


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
