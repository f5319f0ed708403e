"""Benchmark of video visits on PostgreSQL + Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_visits \\
    REDIS_URL=redis://127.0.0.1:6379/6 make bench NAME=visits

One run:
1. (re)creates the database named in DATABASE_URL (only if its name contains "bench") and
   migrates it; creates doctor/patient pairs, one visit in progress per pair, and a logged-in
   session for each (the doctors' with the second factor passed);
2. starts the real platform (`manage.py serve --no-worker`, one uvicorn process, Channels on
   Redis) on a loopback port;
3. first frame: two headless Chromium processes with fake camera and microphone open the room of
   a new visit, the patient waits, the doctor admits; the time from the click on 'admit' to the
   first decoded remote video frame on both sides (requestVideoFrameCallback), median of 10;
4. signaling capacity: every room's two participants exchange signaling frames (ICE candidates)
   through the real consumer, alternating sides; exchanges per second of the one server process;
5. the same clients and frames against a bare `websockets` relay (the messaging benchmark's
   baseline: no database, no Django) in the same run;
6. ends with `RESULT visits first_frame_ms=… signaling_per_s=… bare_per_s=… ratio=…`.

All traffic goes to 127.0.0.1; the run is bounded (ROUNDS frames per room, 10 first-frame trials).
"""

import argparse
import asyncio
import datetime
import json
import os
import statistics
import time

from harness import (
    bare_relay,
    free_port,
    login_session,
    require_scalable_stack,
    setup_django_on_new_database,
    start_platform,
    stop_processes,
)

ROOMS = 200
ROUNDS = 20
TRIALS = 10
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=ROOMS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--trials", type=int, default=TRIALS)
    return parser.parse_args()


def create_pairs(count: int, *, status: str) -> list[tuple[int, str, str]]:
    """Doctor/patient pairs with one visit each starting in 5 minutes. Returns (visit id, doctor's
    session, patient's session)."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from telemed.accounts.models import Role, User
    from telemed.visits.models import Booking

    password = make_password("bench-password-2026")
    stamp = time.monotonic_ns()
    users = User.objects.bulk_create(
        [
            User(
                email=f"{role}{stamp}-{n}@bench.test",
                first_name=role.title(),
                last_name=f"N{n}",
                role=role,
                password=password,
            )
            for n in range(count)
            for role in (Role.DOCTOR, Role.PATIENT)
        ]
    )
    start = timezone.now() + datetime.timedelta(minutes=5)
    now = timezone.now()
    pairs = []
    for n in range(count):
        doctor, patient = users[2 * n], users[2 * n + 1]
        booking = Booking.objects.create(
            doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30), duration_minutes=30,
            breakdown={}, accepted_at=now, status=status, admitted_at=now if status == "in_progress" else None,
        )  # fmt: skip
        pairs.append((booking.pk, login_session(doctor), login_session(patient)))
    return pairs


# --- 1. admission to first decoded frame, in two real browsers -----------------------------------


def first_frame_trials(base_url: str, trials: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM_ARGS

    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    host = base_url.split("//")[1].split(":")[0]
    timings = []
    with sync_playwright() as playwright:
        browsers = [playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True) for _ in range(2)]
        try:
            for visit_id, doctor_session, patient_session in create_pairs(trials, status="booked"):
                pages = []
                for chromium, session in zip(browsers, (doctor_session, patient_session), strict=True):
                    context = chromium.new_context(base_url=base_url)
                    context.add_cookies([{"name": "sessionid", "value": session, "domain": host, "path": "/"}])
                    context.set_default_timeout(30000)
                    pages.append(context.new_page())
                doctor, patient = pages
                room = f"/visits/{visit_id}/room/"
                patient.goto(room)
                patient.locator("[data-testid=device-status][data-state=ok]").wait_for()
                patient.locator("button[name=ready]:not([disabled])").click()
                doctor.goto(room)
                doctor.locator("button[name=admit]").wait_for(state="visible")
                doctor.locator("button[name=admit]").click()
                for page in pages:
                    page.locator("[data-testid=visit-room][data-first-frame=true]").wait_for()
                admitted = doctor.evaluate("window.telemedRoom.admittedAt")
                shown = max(page.evaluate("window.telemedRoom.firstFrameAt") for page in pages)
                timings.append(shown - admitted)
                print(f"  trial {len(timings)}: {shown - admitted} ms", flush=True)
                for page in pages:
                    page.context.close()
        finally:
            for chromium in browsers:
                chromium.close()
    return timings


# --- 2. signaling exchanges per second -----------------------------------------------------------


async def exchange(targets, rounds: int, is_signal) -> tuple[int, float]:
    """Each room's two sides send ``rounds`` candidate frames, alternating; returns the frames
    delivered to the other side and the elapsed time."""
    import websockets

    connections = []
    for url, headers_a, headers_b, origin in targets:
        a = await websockets.connect(url, additional_headers=headers_a, origin=origin, max_queue=None, open_timeout=60)
        b = await websockets.connect(url, additional_headers=headers_b, origin=origin, max_queue=None, open_timeout=60)
        connections.append((a, b))
    await asyncio.sleep(1)
    delivered = 0

    async def room(a, b):
        nonlocal delivered
        sides = (a, b)
        for n in range(rounds):
            sender, receiver = sides[n % 2], sides[(n + 1) % 2]
            stamp = f"candidate:{n} 1 udp 2122260223 127.0.0.1 {50000 + n} typ host"
            frame = {"type": "signal", "candidate": {"candidate": stamp, "sdpMid": "0", "sdpMLineIndex": 0}}
            await sender.send(json.dumps(frame))
            while not is_signal(await asyncio.wait_for(receiver.recv(), 60), stamp):
                pass
            delivered += 1

    started = time.perf_counter()
    await asyncio.gather(*(room(a, b) for a, b in connections))
    elapsed = time.perf_counter() - started
    for a, b in connections:
        await a.close()
        await b.close()
    return delivered, elapsed


def is_signal(raw: str, stamp: str) -> bool:
    event = json.loads(raw)
    return event.get("type") == "signal" and event.get("candidate", {}).get("candidate") == stamp


def main() -> None:
    args = parse_args()
    database_url, _ = require_scalable_stack(redis_db=6)
    print(f"preparing {args.rooms} rooms and {args.trials} first-frame visits …", flush=True)
    setup_django_on_new_database(database_url)
    rooms = create_pairs(args.rooms, status="in_progress")

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = start_platform(port, "--no-worker", "--workers", "1")
    try:
        print(f"first frame after admission, {args.trials} trials in two Chromium instances …", flush=True)
        timings = first_frame_trials(base_url, args.trials)
        first_frame = statistics.median(timings)
        print(f"first frame: median {first_frame:.0f} ms (min {min(timings)} ms, max {max(timings)} ms)")

        targets = [
            (
                f"ws://127.0.0.1:{port}/ws/visits/{v}/",
                {"Cookie": f"sessionid={d}"},
                {"Cookie": f"sessionid={p}"},
                base_url,
            )
            for v, d, p in rooms
        ]
        print(f"telemed: {args.rooms * 2} clients in {args.rooms} rooms, {args.rounds} frames per room …", flush=True)
        delivered, elapsed = asyncio.run(exchange(targets, args.rounds, is_signal))
        rate = delivered / elapsed
        print(f" telemed: {delivered} signaling frames in {elapsed:.1f} s = {rate:.0f}/s")
    finally:
        stop_processes(server)

    with bare_relay() as port:
        targets = [(f"ws://127.0.0.1:{port}/{v}", {}, {}, f"http://127.0.0.1:{port}") for v, _, _ in rooms]
        delivered, elapsed = asyncio.run(exchange(targets, args.rounds, is_bare_signal))
        bare_rate = delivered / elapsed
        print(f"    bare: {delivered} signaling frames in {elapsed:.1f} s = {bare_rate:.0f}/s")

    ratio = rate / bare_rate
    print(f"ratio telemed / bare relay: {ratio:.3f}")
    print(
        f"RESULT visits first_frame_ms={first_frame:.0f} signaling_per_s={rate:.0f} bare_per_s={bare_rate:.0f} ratio={ratio:.3f}"
    )


def is_bare_signal(raw: str, stamp: str) -> bool:
    event = json.loads(raw)
    return event.get("candidate", {}).get("candidate") == stamp


if __name__ == "__main__":
    main()
