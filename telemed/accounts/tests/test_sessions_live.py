"""Live sockets belong to their session: when it ends, they close (ASVS 3.3.1/3.3.3)."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD, log_in
from telemed.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"origin", b"http://127.0.0.1")]


def test_a_stolen_session_loses_its_live_socket_when_the_owner_logs_out_everywhere_else(make_patient):
    patient = make_patient(email="anna@example.test")
    thief, owner = log_in(Client(), patient), log_in(Client(), patient)
    thief_cookie = f"sessionid={thief.cookies['sessionid'].value}".encode()
    assert thief.get(reverse("portal:dashboard")).status_code == 200  # the session is in the account's list

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/notifications/", headers=[*HEADERS, (b"cookie", thief_cookie)])
        assert (await socket.connect(timeout=10))[0]
        response = await database_sync_to_async(owner.post)(
            reverse("accounts:sessions_end_others"), {"current_password": PASSWORD}
        )
        assert response.status_code == 302
        assert (await socket.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}

    async_to_sync(scenario)()
    assert thief.get(reverse("portal:dashboard")).status_code == 302


def test_logging_out_closes_the_sockets_of_that_session_only(make_patient):
    patient = make_patient(email="anna@example.test")
    leaving, staying = log_in(Client(), patient), log_in(Client(), patient)

    def cookie(client):
        return f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario():
        gone = WebsocketCommunicator(
            application, "/ws/notifications/", headers=[*HEADERS, (b"cookie", cookie(leaving))]
        )
        kept = WebsocketCommunicator(
            application, "/ws/notifications/", headers=[*HEADERS, (b"cookie", cookie(staying))]
        )
        assert (await gone.connect(timeout=10))[0] and (await kept.connect(timeout=10))[0]
        await database_sync_to_async(leaving.post)(reverse("accounts:logout"))
        assert (await gone.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4401}
        await kept.send_json_to({"type": "ping"})
        assert (await kept.receive_json_from(timeout=5))["type"] == "pong"
        await kept.disconnect()

    async_to_sync(scenario)()


def test_a_session_ends_at_its_absolute_age_however_active(make_patient, settings):
    import datetime

    patient = make_patient(email="anna@example.test")
    client = log_in(Client(), patient)
    assert client.get(reverse("portal:dashboard")).status_code == 200
    settings.SESSION_ABSOLUTE_AGE = datetime.timedelta(seconds=0)
    assert client.get(reverse("portal:dashboard")).status_code == 302
