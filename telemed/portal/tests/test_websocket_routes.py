"""A WebSocket to a path that no app serves is closed cleanly (4404), with no error in the log;
the real ASGI application of telemed/asgi.py is asked, as a browser would."""

import logging

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from telemed.routing import CLOSE_NO_ROUTE

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
UNKNOWN = [
    "/ws/nothing-here/",
    "/",
    "/ws/",
    "/ws/notifications/extra/",
    "/ws/consults/abc/",
    "/%00/",
    "/ws/../../etc/passwd",
]


@pytest.mark.parametrize("path", UNKNOWN)
def test_an_unknown_websocket_path_is_closed_without_an_error(path, caplog):
    from telemed.asgi import application

    async def scenario():
        socket = WebsocketCommunicator(application, path, headers=[ORIGIN])
        connected, code = await socket.connect(timeout=5)
        await socket.wait(timeout=1)
        return connected, code

    with caplog.at_level(logging.INFO):
        connected, code = async_to_sync(scenario)()
    assert (connected, code) == (False, CLOSE_NO_ROUTE)
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_an_unknown_websocket_path_is_closed_for_a_logged_in_user_too(make_patient, caplog):
    from channels.db import database_sync_to_async

    from telemed.asgi import application

    patient = make_patient()

    async def scenario():
        client = Client()
        await database_sync_to_async(client.force_login)(patient)
        cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
        socket = WebsocketCommunicator(application, "/ws/secret-admin/", headers=[ORIGIN, (b"cookie", cookie)])
        return await socket.connect(timeout=5)

    with caplog.at_level(logging.INFO):
        assert async_to_sync(scenario)() == (False, CLOSE_NO_ROUTE)
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


def test_known_routes_still_answer(make_patient):
    from telemed.asgi import application

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/notifications/", headers=[ORIGIN])
        return await socket.connect(timeout=5)

    assert async_to_sync(scenario)() == (False, 4401)  # the notifications consumer: a visitor
