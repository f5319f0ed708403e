"""The request id: accepted when safe or made fresh, echoed in the response, on every log line of
the request, carried by the tasks it enqueues into the worker's log lines; JSON log lines."""

import io
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django_tasks_db.models import DBTaskResult

from conftest import ROOT
from telemed.lib.request_ids import MAX_LENGTH, current_request_id, request_id_accept, request_id_bound
from telemed.lib.request_ids import TASK_KEY as REQUEST_ID_KEY
from telemed.lib.task_batches import enqueue_many
from telemed.observability.logs import JsonFormatter
from telemed.observability.request_ids import HEADER, RequestIdFilter, RequestIdMiddleware, request_id_clear
from telemed.observability.tests.tasks import log_a_line
from telemed.workers.worker import HeartbeatWorker


def is_uuid4(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 4
    except ValueError:
        return False


@pytest.fixture
def log_lines():
    """Every log line (root logger) of the block as the platform's JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_a_safe_id_is_kept_anything_else_is_replaced_by_a_fresh_one():
    assert request_id_accept("req-42_a.b") == "req-42_a.b"
    assert request_id_accept("A" * MAX_LENGTH) == "A" * MAX_LENGTH
    for unsafe in (None, "", "A" * (MAX_LENGTH + 1), "two words", "x\nforged log line", "-starts-with-dash", "é"):
        assert is_uuid4(request_id_accept(unsafe)), unsafe


@pytest.mark.django_db
def test_the_response_echoes_the_id(client):
    given = client.get("/", headers={HEADER: "from-the-proxy-1"})
    assert given[HEADER] == "from-the-proxy-1"
    fresh = client.get("/", headers={HEADER: "bad id\r\n"})
    assert is_uuid4(fresh[HEADER])
    assert is_uuid4(client.get("/")[HEADER]) and client.get("/")[HEADER] != client.get("/")[HEADER]
    assert is_uuid4(client.get("/no/such/page/")[HEADER])


@pytest.mark.django_db
def test_every_log_line_of_a_request_carries_its_id(client, log_lines):
    client.get("/no/such/page/", headers={HEADER: "trace-me-404"})  # Django logs "Not Found" at WARNING
    logging.getLogger("outside").info("no request here")
    lines = log_lines()
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found and all(line["request_id"] == "trace-me-404" for line in not_found), lines
    assert [line["request_id"] for line in lines if line["logger"] == "outside"] == ["-"]
    assert current_request_id.get() is None


@pytest.mark.django_db
def test_a_task_enqueued_in_a_request_carries_its_id_into_the_workers_log_lines(log_lines):
    DBTaskResult.objects.all().delete()

    def view(request):
        log_a_line.enqueue(text="hello")
        return HttpResponse("queued")

    response = RequestIdMiddleware(view)(RequestFactory().post("/", HTTP_X_REQUEST_ID="upload-7f3a"))
    request_id_clear()  # the request finished
    assert response[HEADER] == "upload-7f3a"
    queued = DBTaskResult.objects.get()
    assert queued.args_kwargs[REQUEST_ID_KEY] == "upload-7f3a"
    assert queued.task_result.kwargs == {"text": "hello"}  # the task itself never sees the id

    log_a_line.enqueue(text="no request")  # outside any request: no id, none invented
    unrelated = DBTaskResult.objects.exclude(pk=queued.pk).get()
    assert REQUEST_ID_KEY not in unrelated.args_kwargs

    worker = HeartbeatWorker(
        queue_names=["*"], interval=0, batch=True, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id="pytest", excluded_queue_names=[],
    )  # fmt: skip
    for row in (queued, unrelated):
        row.claim(worker.worker_id)
        worker.run_task(row)
        row.refresh_from_db()
        assert row.status == "SUCCESSFUL", row.traceback
    said = {line["message"]: line["request_id"] for line in log_lines() if line["logger"].endswith("tests.tasks")}
    assert said == {"task says hello": "upload-7f3a", "task says no request": "-"}
    assert current_request_id.get() is None


@pytest.mark.django_db
def test_tasks_enqueued_many_at_once_carry_the_id_too():
    DBTaskResult.objects.all().delete()
    with request_id_bound("burst-1"):
        assert enqueue_many(log_a_line, [{"text": "a"}, {"text": "b"}]) == 2
    enqueue_many(log_a_line, [{"text": "outside"}])
    carried = {
        row.args_kwargs["kwargs"]["text"]: row.args_kwargs.get(REQUEST_ID_KEY) for row in DBTaskResult.objects.all()
    }
    assert carried == {"a": "burst-1", "b": "burst-1", "outside": None}
    assert current_request_id.get() is None


def test_the_json_formatter_writes_one_object_a_line_with_extras_and_the_exception():
    formatter = JsonFormatter()
    logger = logging.getLogger("json-test")
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logger.makeRecord("json-test", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info())
    record.request_id = "r-1"
    record.upload_id = uuid.UUID(int=7)  # not JSON: written as its text
    line = formatter.format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "failed x" and data["level"] == "ERROR" and data["logger"] == "json-test"
    assert data["request_id"] == "r-1" and data["upload_id"] == str(uuid.UUID(int=7))
    assert "ValueError: boom" in data["exception"]
    assert data["time"].endswith("+00:00")


def test_telemed_log_format_json_makes_every_line_json():
    env = {**os.environ, "TELEMED_LOG_FORMAT": "json"}
    script = (
        "import django, logging, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'telemed.settings'); "
        "django.setup(); logging.getLogger('telemed.check').warning('ciao %s', 'mondo')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # (A library's warning printed by the warnings module would be plain text: not a log line.)
    (line,) = [json.loads(text) for text in result.stderr.splitlines() if text.startswith("{")]
    assert line["message"] == "ciao mondo" and line["request_id"] == "-" and line["level"] == "WARNING"
    wrong = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**env, "TELEMED_LOG_FORMAT": "xml"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert wrong.returncode != 0 and "TELEMED_LOG_FORMAT" in wrong.stderr
