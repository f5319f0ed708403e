"""Benchmark of live messaging on PostgreSQL + Redis, against a bare `websockets` relay.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_messaging \\
    REDIS_URL=redis://127.0.0.1:6379/5 make bench NAME=messaging

One run:
1. (re)creates the database named in DATABASE_URL (only if its name contains "bench") and
   migrates it; creates 1,000 doctors, 500 Intramed conversations of two, and a logged-in
   session for each doctor;
2. starts the real platform (`manage.py serve --no-worker`, uvicorn, Channels on Redis) on a
   loopback port and connects the 1,000 WebSocket clients, each to its conversation;
3. in every conversation the two doctors play ping-pong: each message goes through the real
   path (consumer → message_send → PostgreSQL, notification, Redis group → the other client);
   latency is measured from the send to its arrival at the other client;
4. in the same run, the same 1,000 clients and the same ping-pong against a bare relay written
   with the `websockets` library (no database, no Django), as the baseline;
5. prints both and ends with `RESULT messaging clients=… p50_ms=… p99_ms=… msg_per_s=…
   bare_msg_per_s=… ratio=…`.

All traffic goes to 127.0.0.1; the run is bounded (ROUNDS messages per conversation).
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONVERSATIONS = 500
ROUNDS = 20  # messages per conversation, alternating sides


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=CONVERSATIONS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    return parser.parse_args()


def require_stack() -> tuple[str, str]:
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        sys.exit(
            "bench/messaging.py measures the scalable stack: set DATABASE_URL to a PostgreSQL database whose name "
            "contains 'bench' and REDIS_URL, e.g.\n  DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_messaging "
            "REDIS_URL=redis://127.0.0.1:6379/5 make bench NAME=messaging"
        )
    name = urlsplit(database_url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to recreate database {name!r}: its name must contain 'bench'")
    return database_url, redis_url


def recreate_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, check=True)


def create_people(conversations: int) -> list[tuple[int, str, str]]:
    """Doctors in pairs, one Intramed conversation per pair, a session per doctor.

    Returns (conversation id, session of side A, session of side B)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")
    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore

    from telemed.accounts.models import Role, User
    from telemed.messaging.models import Conversation, ConversationKind, Participant

    password = make_password("bench-password-2026")
    doctors = User.objects.bulk_create(
        [
            User(email=f"doc{n}@bench.test", first_name="Doc", last_name=f"N{n}", role=Role.DOCTOR, password=password)
            for n in range(conversations * 2)
        ]
    )
    pairs = []
    for n in range(conversations):
        a, b = doctors[2 * n], doctors[2 * n + 1]
        conversation = Conversation.objects.create(kind=ConversationKind.INTRAMED, created_by=a, subject=f"Bench {n}")
        Participant.objects.bulk_create([Participant(conversation=conversation, user=a), Participant(conversation=conversation, user=b)])
        sessions = []
        for doctor in (a, b):
            session = SessionStore()
            session["_auth_user_id"] = str(doctor.pk)
            session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
            session["_auth_user_hash"] = doctor.get_session_auth_hash()
            session.create()
            sessions.append(session.session_key)
        pairs.append((conversation.pk, *sessions))
    return pairs


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} did not answer within {timeout} s")


async def ping_pong(urls_and_headers, rounds: int, parse) -> tuple[list[float], int, float]:
    """Connect every pair, then let each pair exchange ``rounds`` messages, alternating sides.

    Returns the latencies (s), the number of messages delivered and the elapsed time of the exchange."""
    import websockets

    latencies: list[float] = []
    delivered = 0
    connections = []
    for url_a, headers_a, url_b, headers_b, origin in urls_and_headers:
        a = await websockets.connect(url_a, additional_headers=headers_a, origin=origin, max_queue=None, open_timeout=60)
        b = await websockets.connect(url_b, additional_headers=headers_b, origin=origin, max_queue=None, open_timeout=60)
        connections.append((a, b))
    await asyncio.sleep(1)

    async def pair(a, b):
        nonlocal delivered
        sides = (a, b)
        for n in range(rounds):
            sender, receiver = sides[n % 2], sides[(n + 1) % 2]
            stamp = f"{time.perf_counter():.9f}:{n}"
            await sender.send(json.dumps({"type": "send", "text": stamp}))
            while True:
                text = parse(await asyncio.wait_for(receiver.recv(), 60))
                if text == stamp:
                    latencies.append(time.perf_counter() - float(stamp.split(":")[0]))
                    delivered += 1
                    break
            # The sender also receives its own message (group broadcast): drain it.
            if parse is not bare_parse:
                while parse(await asyncio.wait_for(sender.recv(), 60)) != stamp:
                    pass

    started = time.perf_counter()
    await asyncio.gather(*(pair(a, b) for a, b in connections))
    elapsed = time.perf_counter() - started
    for a, b in connections:
        await a.close()
        await b.close()
    return latencies, delivered, elapsed


def telemed_parse(raw: str) -> str | None:
    event = json.loads(raw)
    return event.get("text") if event.get("type") == "message" else None


def bare_parse(raw: str) -> str | None:
    return json.loads(raw).get("text")


BARE_RELAY = r"""
import asyncio, sys, websockets
rooms = {}
async def handler(socket):
    room = rooms.setdefault(socket.request.path, set())
    room.add(socket)
    try:
        async for message in socket:
            for other in list(room):
                if other is not socket:
                    await other.send(message)
    finally:
        room.discard(socket)
async def main():
    async with websockets.serve(handler, "127.0.0.1", int(sys.argv[1]), max_queue=None):
        await asyncio.Future()
asyncio.run(main())
"""


def summary(name: str, latencies: list[float], delivered: int, elapsed: float) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = delivered / elapsed
    print(f"{name:>8}: {delivered} messages in {elapsed:.1f} s = {rate:.0f} msg/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return p50, p99, rate


def main() -> None:
    args = parse_args()
    database_url, redis_url = require_stack()
    print(f"preparing {args.conversations * 2} doctors in {args.conversations} conversations …", flush=True)
    recreate_database(database_url)
    pairs = create_people(args.conversations)
    clients = len(pairs) * 2

    # 1. telemed, the real path.
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "TELEMED_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-worker", "--port", str(port), "--workers", str(args.workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", server)
        base = f"ws://127.0.0.1:{port}/ws/conversations/"
        targets = [
            (f"{base}{c}/", {"Cookie": f"sessionid={a}"}, f"{base}{c}/", {"Cookie": f"sessionid={b}"}, f"http://127.0.0.1:{port}")
            for c, a, b in pairs
        ]
        print(f"telemed: {clients} clients connected, {args.rounds} messages per conversation …", flush=True)
        p50, p99, rate = summary("telemed", *asyncio.run(ping_pong(targets, args.rounds, telemed_parse)))
    finally:
        server.terminate()
        server.wait(timeout=30)

    # 2. The baseline: a bare relay, same clients, same exchange.
    port = free_port()
    relay = subprocess.Popen([sys.executable, "-c", BARE_RELAY, str(port)])
    try:
        time.sleep(1.5)
        targets = [
            (f"ws://127.0.0.1:{port}/{c}", {}, f"ws://127.0.0.1:{port}/{c}", {}, f"http://127.0.0.1:{port}") for c, _, _ in pairs
        ]
        _, _, bare_rate = summary("bare", *asyncio.run(ping_pong(targets, args.rounds, bare_parse)))
    finally:
        relay.terminate()
        relay.wait(timeout=10)

    ratio = rate / bare_rate
    print(f"ratio telemed / bare relay: {ratio:.3f} (target ≥ 0.25); p99 target < 100 ms")
    print(
        f"RESULT messaging clients={clients} p50_ms={p50:.1f} p99_ms={p99:.1f} msg_per_s={rate:.0f} "
        f"bare_msg_per_s={bare_rate:.0f} ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
