"""The platform's Prometheus metrics (prometheus-client): what the processes count as they work
(instruments) and what is read from the database when Prometheus scrapes (collectors).

- Instruments live here, low in the layers, so that any app can count: request latency by view
  (``RequestLatencyMiddleware``), WebSocket connections by consumer (``websockets.py``), upload
  bytes (boxes).
- A higher app that knows how to read a figure of its own (the task queue, the reminders' lag)
  registers a collector with ``collector_register`` from its ``AppConfig.ready``; the collector
  runs at scrape time, in the web process that answers the scrape.
- Several web processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (a directory shared by the web
  processes of one host, emptied when the host starts), prometheus-client keeps each process's
  values in files there and a scrape of any one of them sums them all. The variable must be set
  before the process starts (prometheus-client reads it at import). The gauge files of a process
  that died are removed by the next process that starts (``forget_dead_processes``); its counters
  stay, so that totals never go backwards.
- Labels are bounded: a view's name (never the raw path), a consumer's class, a queue's name.
"""

import glob
import logging
import os
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# This process's instruments. In multi-process mode their values go to the shared directory and
# the scrape reads them from there instead.
INSTRUMENTS = CollectorRegistry(auto_describe=True)

request_duration = Histogram(
    "telemed_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by view.",
    ["view", "method"],
    registry=INSTRUMENTS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
responses = Counter(
    "telemed_http_responses",
    "Responses by view and status code.",
    ["view", "method", "status"],
    registry=INSTRUMENTS,
)
websocket_connections = Gauge(
    "telemed_websocket_connections",
    "WebSocket connections open now, by consumer.",
    ["consumer"],
    registry=INSTRUMENTS,
    multiprocess_mode="livesum",
)
upload_bytes = Counter(
    "telemed_upload_bytes",
    "Bytes of uploads written to storage, by kind of upload.",
    ["kind"],
    registry=INSTRUMENTS,
)

UNMATCHED_VIEW = "<unmatched>"

_scrape_collectors: list[Collector] = []


def collector_register(collector: Collector) -> None:
    """Run ``collector`` at every scrape (from a higher app's ``AppConfig.ready``)."""
    if collector not in _scrape_collectors:
        _scrape_collectors.append(collector)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


class _Instruments(Collector):
    def collect(self):
        return INSTRUMENTS.collect()


class _Guarded(Collector):
    """A collector whose failure (the database is down, say) costs its own figures only, not the
    scrape: the instruments still reach Prometheus, and the log says what failed."""

    def __init__(self, collector: Collector):
        self.collector = collector

    def collect(self):
        try:
            return list(self.collector.collect())
        except Exception:
            logger.exception("metrics: %s failed", type(self.collector).__name__)
            return []


def exposition() -> bytes:
    """The text Prometheus reads: the instruments (of every web process of this host in
    multi-process mode) and the figures the registered collectors read now."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Instruments())
    for collector in _scrape_collectors:
        registry.register(_Guarded(collector))
    return generate_latest(registry)


def forget_dead_processes() -> None:
    """Remove the live-gauge files of web processes of this host that are gone (killed, say), so
    that the open WebSocket connections they counted are not counted any more."""
    directory = multiprocess_dir()
    if not directory:
        return
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        if not _process_alive(pid):
            prometheus_multiprocess.mark_process_dead(pid, directory)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def view_label(request) -> str:
    """The view's name (``boxes:upload``), or its route for a view without a name: never the path,
    whose ids would make one series per document."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED_VIEW
    return match.view_name or match.route or UNMATCHED_VIEW


class RequestLatencyMiddleware:
    """Outermost, so that it times the whole chain. A streamed response (a file) is timed until
    its first byte is ready, not until the last one is sent."""

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        view = view_label(request)
        request_duration.labels(view=view, method=_method(request)).observe(time.perf_counter() - started)
        responses.labels(view=view, method=_method(request), status=str(response.status_code)).inc()
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _method(request) -> str:
    # A made-up method would be a new series each time.
    return request.method if request.method in _METHODS else "OTHER"
