"""/metrics: not there for whoever is not configured to read it (404), there for the token or the
internal networks; what it shows (request latency by view, the task queue, the reminders' lag,
WebSocket connections by consumer), and several web processes summed in multi-process mode."""

import datetime
import ipaddress
import os
import subprocess
import sys

import pytest
from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, database_url_for_subprocesses
from telemed.observability import metrics
from telemed.observability.tests.tasks import log_a_line
from telemed.observability.websockets import CountedConnections, connections_counted

TOKEN = "a-long-random-scrape-token-0123456789"


def samples(text: str) -> dict:
    """{(sample name, sorted labels): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(client) -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_NETWORKS = []


@pytest.mark.django_db
def test_without_configuration_there_is_no_metrics_page(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_NETWORKS = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


@pytest.mark.django_db
@pytest.mark.usefixtures("token")
def test_only_the_token_opens_it(client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 404  # not a bearer
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 404
    assert client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code in {403, 404}
    names = {name for name, _labels in scrape(client)}
    for expected in (
        "telemed_http_request_duration_seconds_count",
        "telemed_tasks_running",
        "telemed_reminders_dispatch_lag_seconds",
        "telemed_reminders_due",
    ):
        assert expected in names, sorted(names)


@pytest.mark.django_db
def test_internal_networks_without_a_token_and_both_when_both_are_set(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    # A forwarded-for header is the proxy's business (uvicorn's --proxy-headers), not a key.
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 404
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", headers=bearer).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", headers=bearer).status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("token")
def test_a_request_counts_in_the_histogram_of_its_view_never_of_its_path(client):
    key = ("telemed_http_request_duration_seconds_count", (("method", "GET"), ("view", "portal:home")))
    before = scrape(client).get(key, 0)
    assert client.get("/").status_code == 200
    assert client.get("/no/such/page/42").status_code == 404
    after = scrape(client)
    assert after[key] == before + 1
    unmatched = ("telemed_http_request_duration_seconds_count", (("method", "GET"), ("view", metrics.UNMATCHED_VIEW)))
    assert after[unmatched] >= 1
    views = {dict(labels).get("view") for name, labels in after if name.startswith("telemed_http_")}
    assert not any(view.startswith("/") for view in views if view), views
    status = ("telemed_http_responses_total", (("method", "GET"), ("status", "200"), ("view", "portal:home")))
    assert after[status] >= 1


@pytest.mark.django_db
@pytest.mark.usefixtures("token")
def test_the_scrape_reads_the_task_queue_and_the_reminders_lag(client, make_patient):
    from telemed.reminders import services as reminders
    from telemed.reminders.models import Reminder
    from telemed.reminders.tests.test_dispatch import create, daily

    patient = make_patient()
    reminder = create(patient, patient, daily("08:00"))
    Reminder.objects.filter(pk=reminder.pk).update(next_fire_at=timezone.now() - datetime.timedelta(minutes=10))
    assert reminders  # the services module made the reminder above
    DBTaskResult.objects.all().delete()  # the registration's e-mails are not what this test is about
    log_a_line.enqueue(text="waiting")
    DBTaskResult.objects.update(enqueued_at=timezone.now() - datetime.timedelta(minutes=3))
    later = log_a_line.using(run_after=timezone.now() + datetime.timedelta(hours=1)).enqueue(text="later")
    assert later.status == "READY"

    found = scrape(client)
    assert found[("telemed_tasks_ready", (("queue", "default"),))] == 1  # the deferred one is not ready yet
    assert 170 <= found[("telemed_tasks_oldest_ready_age_seconds", (("queue", "default"),))] < 3600
    assert found[("telemed_reminders_due", ())] == 1
    assert 590 <= found[("telemed_reminders_dispatch_lag_seconds", ())] < 3600


class Accepting(WebsocketConsumer):
    def connect(self):
        self.accept()


class Refusing(WebsocketConsumer):
    def connect(self):
        self.close()


@pytest.mark.django_db
def test_websocket_connections_are_counted_by_consumer_while_open():
    routes = connections_counted([path("ok/", Accepting.as_asgi()), path("no/", Refusing.as_asgi())])
    assert [route.callback.consumer for route in routes] == ["Accepting", "Refusing"]
    application = URLRouter(routes)
    gauge = metrics.websocket_connections

    def value(consumer: str) -> float:
        return gauge.labels(consumer=consumer)._value.get()

    async def scenario():
        start = value("Accepting")
        first, second = WebsocketCommunicator(application, "/ok/"), WebsocketCommunicator(application, "/ok/")
        assert (await first.connect(timeout=10))[0] and (await second.connect(timeout=10))[0]
        assert value("Accepting") == start + 2
        refused = WebsocketCommunicator(application, "/no/")
        assert not (await refused.connect(timeout=10))[0]
        assert value("Refusing") == 0
        await first.disconnect()
        await second.disconnect()
        assert value("Accepting") == start

    async_to_sync(scenario)()


def test_every_websocket_route_of_the_platform_is_counted():
    from telemed.routing import websocket_urlpatterns

    consumers = [route.callback for route in websocket_urlpatterns if hasattr(route.callback, "consumer")]
    assert all(isinstance(callback, CountedConnections) for callback in consumers)
    assert {callback.consumer for callback in consumers} == {
        "NotificationConsumer", "ConversationConsumer", "ConsultThreadConsumer", "VisitRoomConsumer",
    }  # fmt: skip


COUNT_AND_EXIT = """
import django, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")
django.setup()
from telemed.observability import metrics
if sys.argv[1] == "count":
    metrics.upload_bytes.labels(kind="box").inc(int(sys.argv[2]))
    metrics.websocket_connections.labels(consumer="Test").inc()
    if sys.argv[3] == "stays":
        sys.stdout.write("counted\\n"); sys.stdout.flush(); sys.stdin.read()
else:
    metrics.forget_dead_processes()
    sys.stdout.write(metrics.exposition().decode())
"""


@pytest.mark.django_db
def test_several_web_processes_are_summed_in_multiprocess_mode(tmp_path):
    """Each process writes its values under PROMETHEUS_MULTIPROC_DIR; a scrape of any one sums
    them. A dead process's bytes stay counted; its open connections do not."""
    env = {
        **os.environ, metrics.MULTIPROCESS_ENV: str(tmp_path), "DATABASE_URL": database_url_for_subprocesses(),
        "DATABASE_POOL": "false",
    }  # fmt: skip

    def run(*args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", COUNT_AND_EXIT, *args], cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, **kwargs,
        )  # fmt: skip

    gone = run("count", "1000", "exits")
    assert gone.wait(timeout=60) == 0
    alive = run("count", "234", "stays")
    try:
        assert alive.stdout.readline() == "counted\n"
        output = run("scrape").communicate(timeout=60)[0]
    finally:
        alive.communicate(timeout=60)
    found = samples(output)
    assert found[("telemed_upload_bytes_total", (("kind", "box"),))] == 1234
    assert found[("telemed_websocket_connections", (("consumer", "Test"),))] == 1  # only the live one
