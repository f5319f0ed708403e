"""With REDIS_URL, a message sent through one ASGI server process reaches a client connected
to another: two real `serve` processes on the real Redis."""

import asyncio
import json
import os

import pytest
import redis

from conftest import database_url_for_subprocesses, free_port, platform_process, session_cookie
from telemed.messaging import services

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"


def redis_reachable() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not redis_reachable(), reason="needs a Redis server"),
]


def test_a_message_crosses_server_processes_through_redis(linked, tmp_path):
    import websockets

    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Primo")
    doctor_cookie, patient_cookie = session_cookie(doctor), session_cookie(patient)
    env = {"DATABASE_URL": database_url_for_subprocesses(), "REDIS_URL": REDIS_URL, "TELEMED_VAR_DIR": str(tmp_path)}

    with (
        platform_process(port=free_port(), env=env, args=("--no-worker",)) as first,
        platform_process(port=free_port(), env=env, args=("--no-worker",)) as second,
    ):

        async def scenario():
            path = f"/ws/conversations/{conversation.pk}/"
            async with (
                websockets.connect(
                    first.replace("http", "ws") + path, origin=first, additional_headers={"Cookie": doctor_cookie}
                ) as doctor_socket,
                websockets.connect(
                    second.replace("http", "ws") + path, origin=second, additional_headers={"Cookie": patient_cookie}
                ) as patient_socket,
            ):
                await asyncio.sleep(0.3)  # both joined their group
                await doctor_socket.send(json.dumps({"type": "send", "text": "Attraverso Redis"}))
                while True:
                    event = json.loads(await asyncio.wait_for(patient_socket.recv(), 10))
                    if event["type"] == "message":
                        return event

        event = asyncio.run(scenario())
    assert event["text"] == "Attraverso Redis" and event["sender"] == doctor.pk
