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
5. the open-loop phase, on the same server: the same 1,000 clients send at a fixed total of
   200 messages per second for 30 s (each message due at its time, whatever the answers),
   latency measured from when it was due to its arrival at the other side; every message
   numbered, so that one lost (not stored or not delivered) or delivered twice is counted;
6. prints everything and ends with `RESULT messaging clients=… p50_ms=… p99_ms=… msg_per_s=…
   bare_msg_per_s=… ratio=… open_rate=… open_p99_ms=… lost=… twice=…`.

All traffic goes to 127.0.0.1; the run is bounded (ROUNDS messages per conversation).
"""

import argparse
import asyncio
import json
import secrets
import statistics
import time

from harness import (
    bare_relay,
    free_port,
    login_session,
    percentile,
    require_scalable_stack,
    setup_django_on_new_database,
    start_platform,
    stop_processes,
)

CONVERSATIONS = 500
ROUNDS = 20  # messages per conversation, alternating sides


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=CONVERSATIONS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--open-rate", type=float, default=200.0, help="messages per second in all, open-loop phase")
    parser.add_argument("--open-seconds", type=float, default=30.0, help="length of the open-loop phase")
    return parser.parse_args()


def create_people(conversations: int) -> list[tuple[int, str, str]]:
    """Doctors in pairs, one Intramed conversation per pair, a session per doctor.

    Returns (conversation id, session of side A, session of side B)."""
    from django.contrib.auth.hashers import make_password

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
        Participant.objects.bulk_create(
            [Participant(conversation=conversation, user=a), Participant(conversation=conversation, user=b)]
        )
        pairs.append((conversation.pk, login_session(a), login_session(b)))
    return pairs


async def ping_pong(urls_and_headers, rounds: int, parse) -> tuple[list[float], int, float]:
    """Connect every pair, then let each pair exchange ``rounds`` messages, alternating sides.

    Returns the latencies (s), the number of messages delivered and the elapsed time of the exchange."""
    import websockets

    latencies: list[float] = []
    delivered = 0
    connections = []
    for url_a, headers_a, url_b, headers_b, origin in urls_and_headers:
        a = await websockets.connect(
            url_a, additional_headers=headers_a, origin=origin, max_queue=None, open_timeout=60
        )
        b = await websockets.connect(
            url_b, additional_headers=headers_b, origin=origin, max_queue=None, open_timeout=60
        )
        connections.append((a, b))
    await asyncio.sleep(1)

    async def pair(a, b):
        nonlocal delivered
        sides = (a, b)
        for n in range(rounds):
            sender, receiver = sides[n % 2], sides[(n + 1) % 2]
            stamp = f"{time.perf_counter():.9f}:{n}"
            # With a key, as the conversation page sends each message.
            key = secrets.token_hex(16)
            await sender.send(json.dumps({"type": "send", "text": stamp, "key": key}))
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


async def open_loop(urls_and_headers, rate: float, seconds: float, drain: float) -> dict:
    """The same clients, connected again, send at a fixed total ``rate`` (messages per second,
    taking turns, whatever the answers) for ``seconds``: the load of a busy evening, not of a
    saturated server. Latency runs from the moment each message was due to be sent (so that a
    late send counts against the platform) to its arrival at the other side; then ``drain``
    seconds more for the last ones. Every message carries its number, so that one lost or
    delivered twice is seen."""
    import websockets

    sockets = []
    for url_a, headers_a, url_b, headers_b, origin in urls_and_headers:
        for url, headers in ((url_a, headers_a), (url_b, headers_b)):
            sockets.append(
                await websockets.connect(
                    url, additional_headers=headers, origin=origin, max_queue=None, open_timeout=60
                )
            )
    await asyncio.sleep(1)
    due_at: dict[int, float] = {}
    received: dict[int, int] = {}
    latencies: list[float] = []

    async def listen(index: int, socket) -> None:
        try:
            async for raw in socket:
                text = telemed_parse(raw)
                if not text or not text.startswith("open:"):
                    continue
                _, number, sender = text.split(":")
                if int(sender) == index:
                    continue  # its own message, back from the group
                number = int(number)
                received[number] = received.get(number, 0) + 1
                if received[number] == 1:
                    latencies.append(time.perf_counter() - due_at[number])
        except websockets.ConnectionClosed:
            pass

    listeners = [asyncio.create_task(listen(i, socket)) for i, socket in enumerate(sockets)]
    started = time.perf_counter()
    total = int(rate * seconds)
    for number in range(total):
        due = started + number / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        index = number % len(sockets)
        due_at[number] = due
        frame = {"type": "send", "text": f"open:{number}:{index}", "key": secrets.token_hex(16)}
        await sockets[index].send(json.dumps(frame))
    deadline = time.perf_counter() + drain
    while len(received) < total and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
    for socket in sockets:
        await socket.close()
    for listener in listeners:
        listener.cancel()
    return {
        "sent": total,
        "delivered": len(received),
        "twice": sum(1 for count in received.values() if count > 1),
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def telemed_parse(raw: str) -> str | None:
    event = json.loads(raw)
    return event.get("text") if event.get("type") == "message" else None


def bare_parse(raw: str) -> str | None:
    return json.loads(raw).get("text")


def summary(name: str, latencies: list[float], delivered: int, elapsed: float) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = percentile(ordered, 0.99) * 1000
    rate = delivered / elapsed
    print(
        f"{name:>8}: {delivered} messages in {elapsed:.1f} s = {rate:.0f} msg/s; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    return p50, p99, rate


def main() -> None:
    args = parse_args()
    database_url, _ = require_scalable_stack(redis_db=5)
    print(f"preparing {args.conversations * 2} doctors in {args.conversations} conversations …", flush=True)
    setup_django_on_new_database(database_url)
    pairs = create_people(args.conversations)
    clients = len(pairs) * 2

    # 1. telemed, the real path.
    port = free_port()
    server = start_platform(port, "--no-worker", "--workers", str(args.workers))
    try:
        base = f"ws://127.0.0.1:{port}/ws/conversations/"
        targets = [
            (
                f"{base}{c}/",
                {"Cookie": f"sessionid={a}"},
                f"{base}{c}/",
                {"Cookie": f"sessionid={b}"},
                f"http://127.0.0.1:{port}",
            )
            for c, a, b in pairs
        ]
        print(f"telemed: {clients} clients connected, {args.rounds} messages per conversation …", flush=True)
        p50, p99, rate = summary("telemed", *asyncio.run(ping_pong(targets, args.rounds, telemed_parse)))
        print(
            f"open loop: {clients} clients, {args.open_rate:.0f} messages/s in all for {args.open_seconds:.0f} s …",
            flush=True,
        )
        opened = asyncio.run(open_loop(targets, args.open_rate, args.open_seconds, drain=30))
    finally:
        stop_processes(server)
    from telemed.messaging.models import Message

    stored = Message.objects.filter(text__startswith="open:").count()
    lost = opened["sent"] - min(opened["delivered"], stored)
    print(
        f"open loop: sent {opened['sent']:,}, stored {stored:,}, delivered {opened['delivered']:,} "
        f"({opened['twice']} twice); latency p50 {opened['p50_ms']:.1f} ms, p99 {opened['p99_ms']:.1f} ms"
    )

    # 2. The baseline: a bare relay, same clients, same exchange.
    with bare_relay() as port:
        targets = [
            (f"ws://127.0.0.1:{port}/{c}", {}, f"ws://127.0.0.1:{port}/{c}", {}, f"http://127.0.0.1:{port}")
            for c, _, _ in pairs
        ]
        _, _, bare_rate = summary("bare", *asyncio.run(ping_pong(targets, args.rounds, bare_parse)))

    ratio = rate / bare_rate
    print(f"ratio telemed / bare relay: {ratio:.3f} (target ≥ 0.25); open loop: p99 target ≤ 100 ms, nothing lost")
    print(
        f"RESULT messaging clients={clients} p50_ms={p50:.1f} p99_ms={p99:.1f} msg_per_s={rate:.0f} "
        f"bare_msg_per_s={bare_rate:.0f} ratio={ratio:.3f} open_rate={args.open_rate:.0f} "
        f"open_p99_ms={opened['p99_ms']:.1f} lost={lost} twice={opened['twice']}"
    )


if __name__ == "__main__":
    main()
