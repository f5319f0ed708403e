"""The production topology on one machine, tried as an operator and its users would (``make scale-test``).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_scaleout \\
    REDIS_URL=redis://127.0.0.1:6379/7 make scale-test

What runs, each as its own process, as ``deploy/`` starts it:
- nginx (Debian's, installed by the Makefile when missing) on a loopback port, with the site of
  ``deploy/nginx/telemed.conf`` (its upstream pointed at the web processes below, plain HTTP
  instead of TLS, logs in a scratch folder);
- two web processes (``deploy/bin/telemed-web PORT``), each with a var folder of its own, as on
  two hosts that share nothing but PostgreSQL, Redis and the object storage;
- two task workers and two reminder dispatchers (``manage.py task_worker``, ``reminders_dispatch``);
- PostgreSQL and Redis (the machine's), and an S3-protocol server (moto's standalone server) as
  the object storage (``STORAGE_URL``).

What happens, in order:
1. a patient and a doctor, connected to different web processes, exchange live messages in their
   conversation, and their video room's signaling (offer, answer) crosses the processes too;
2. a 50 MB resumable upload sends its chunks to one web process and the other in turn, and the
   file in the bucket has the SHA-256 of what was sent (``uploads_ok``);
3. twenty conversations exchange numbered messages through nginx while one web process is killed
   with SIGKILL; every client whose socket dropped reconnects through nginx, asks for what it
   missed, and sends again only what the platform did not store. Every message must be stored
   once and reach the other side (``messages_lost``, ``duplicates``);
4. a burst of reminders falls due with both dispatchers running: each is delivered exactly once;
5. ``manage.py backup``, then ``manage.py restore`` into a new database and a new bucket, whose
   checks (documents' digests, the ledger, invoice numbering, the audit trail) must all pass.

It ends with ``RESULT scaleout web=2 workers=2 messages_lost=… uploads_ok=… duplicates=… restore_ok=…``
and exits non-zero when any of them is not what it must be.
"""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    ROOT,
    fail,
    free_port,
    login_session,
    maintenance_connection,
    require_scalable_stack,
    scratch_platform,
    setup_django_on_scratch,
    stop_processes,
    wait_until_serving,
)

WEB_PROCESSES = 2
WORKERS = 2
DISPATCHERS = 2
LIVE_MESSAGES = 10  # each way, patient and doctor on different web processes
KILL_CONVERSATIONS = 20
KILL_MESSAGES = 30  # per side of each conversation, one every KILL_INTERVAL seconds
KILL_INTERVAL = 0.4  # 100 messages a second in all: a load the platform takes, even on one process
BURST = 200  # reminders due at once
UPLOAD_MB = 50
CHUNK = 8 * 1024 * 1024  # what the page sends
BUCKET = "telemed-scaleout"
S3_KEYS = ("scaleout-key", "scaleout-secret")
DOMAIN = "demo.telemed.test"


# --- the processes ---------------------------------------------------------------------------------------------


class Topology:
    """Every process of the run, started in order and stopped together however the run ends."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.processes: list[subprocess.Popen] = []
        self.logs = scratch / "logs"
        self.logs.mkdir()
        self.web_ports = [free_port() for _ in range(WEB_PROCESSES)]
        self.web: dict[int, subprocess.Popen] = {}
        self.nginx_port = free_port()
        self.s3_port = free_port()
        self.env: dict[str, str] = {}

    def start(self, name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        environment = {**os.environ, **self.env, **(env or {})}
        environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def log_tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()[-2000:]

    def start_object_storage(self) -> str:
        process = self.start("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)])
        wait_until_serving(f"http://127.0.0.1:{self.s3_port}/moto-api/", process, "the S3-protocol server")
        import boto3

        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.s3_port}", region_name="eu-south-1",
            aws_access_key_id=S3_KEYS[0], aws_secret_access_key=S3_KEYS[1],
        )  # fmt: skip
        for bucket in (BUCKET, f"{BUCKET}-restored"):
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-south-1"})
        return self.storage_url(BUCKET)

    def storage_url(self, bucket: str) -> str:
        return f"s3+http://{S3_KEYS[0]}:{S3_KEYS[1]}@127.0.0.1:{self.s3_port}/{bucket}?region=eu-south-1"

    def start_web(self, port: int) -> subprocess.Popen:
        host_var = self.scratch / f"host-{port}"
        host_var.mkdir(exist_ok=True)
        process = self.start(
            f"web-{port}", [str(ROOT / "deploy" / "bin" / "telemed-web"), str(port)],
            env={"TELEMED_PYTHON": sys.executable, "TELEMED_VAR_DIR": str(host_var)},
        )  # fmt: skip
        wait_until_serving(f"http://127.0.0.1:{port}/ping", process, f"web process {port}")
        self.web[port] = process
        return process

    def start_roles(self) -> None:
        for n in range(WORKERS):
            self.start(f"worker-{n}", [sys.executable, "manage.py", "task_worker", "--interval", "1", "--no-reload"])
        for n in range(DISPATCHERS):
            self.start(f"dispatcher-{n}", [sys.executable, "manage.py", "reminders_dispatch"])
        for port in self.web_ports:
            self.start_web(port)
        self.start_nginx()

    def start_nginx(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            fail("nginx is not installed (make scale-test installs Debian's)")
        prefix = self.scratch / "nginx"
        for folder in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / folder).mkdir(parents=True, exist_ok=True)
        (prefix / "nginx.conf").write_text(nginx_configuration(prefix, self.nginx_port, self.web_ports))
        process = self.start("nginx", [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"])
        wait_until_serving(f"http://127.0.0.1:{self.nginx_port}/ping", process, "nginx")

    def stop(self) -> None:
        stop_processes(*reversed(self.processes))


def nginx_configuration(prefix: Path, port: int, web_ports: list[int]) -> str:
    """deploy/nginx/telemed.conf as an operator installs it, with what differs on one loopback
    machine: the upstream lists this run's web processes, the site listens on plain HTTP on a
    loopback port (no certificate here), logs and temporary files go to the scratch folder."""
    site = (ROOT / "deploy" / "nginx" / "telemed.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;\n" for p in web_ports)
    site, count = re.subn(
        r"(upstream telemed_web \{\n    least_conn;\n)(    server [^\n]*\n)+", rf"\g<1>{servers}", site
    )
    redirect = re.search(r"\nserver \{\n    listen 80;.*?\n\}\n", site, re.S)
    if count != 1 or redirect is None or "listen 443 ssl http2;" not in site:
        fail("deploy/nginx/telemed.conf no longer has the shape this test adapts (upstream, port 80, port 443)")
    site = site.replace(redirect.group(0), "\n")
    site = re.sub(
        r"    listen 443 ssl http2;\n    listen \[::\]:443 ssl http2;\n", f"    listen 127.0.0.1:{port};\n", site
    )
    site = re.sub(r"\n    ssl_[^\n]*", "", site)
    site = re.sub(r"access_log [^ ]+ ", f"access_log {prefix}/access.log ", site)
    site = re.sub(r"error_log [^ ]+ ", f"error_log {prefix}/error.log ", site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temporary = "".join(f"    {kind}_temp_path {prefix}/{kind.split('_')[-1]};\n" for kind in (
        "client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    return (
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        f"events {{ worker_connections 4096; }}\nhttp {{\n{temporary}{site}\n}}\n"
    )


# --- 1. live messages and signaling across web processes ---------------------------------------------------


async def connect(url: str, session: str, origin: str):
    import websockets

    return await websockets.connect(
        url, additional_headers={"Cookie": f"sessionid={session}"}, origin=origin, max_queue=None, open_timeout=30
    )


async def receive_until(socket, wanted, timeout: float = 30) -> dict:
    """The next frame for which ``wanted(frame)`` holds (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), max(0.1, deadline - time.monotonic())))
        if wanted(frame):
            return frame


async def live_across_processes(topology: Topology, conversation_id: int, booking_id: int, sessions: dict) -> int:
    """Messages and signaling between two people on two web processes; the number not delivered."""
    (port_a, port_b), lost = topology.web_ports, 0
    patient = await connect(
        f"ws://127.0.0.1:{port_a}/ws/conversations/{conversation_id}/",
        sessions["patient"],
        f"http://127.0.0.1:{port_a}",
    )
    doctor = await connect(
        f"ws://127.0.0.1:{port_b}/ws/conversations/{conversation_id}/", sessions["doctor"], f"http://127.0.0.1:{port_b}"
    )
    for n in range(LIVE_MESSAGES):
        for sender, receiver, who in ((patient, doctor, "patient"), (doctor, patient, "doctor")):
            text = f"live {who} {n}"
            await sender.send(json.dumps({"type": "send", "text": text}))
            try:
                await receive_until(receiver, lambda f, t=text: f.get("type") == "message" and f.get("text") == t)
            except TimeoutError:
                lost += 1
    await patient.close()
    await doctor.close()

    room = f"/ws/visits/{booking_id}/"
    patient = await connect(f"ws://127.0.0.1:{port_a}{room}", sessions["patient"], f"http://127.0.0.1:{port_a}")
    doctor = await connect(f"ws://127.0.0.1:{port_b}{room}", sessions["doctor"], f"http://127.0.0.1:{port_b}")
    await receive_until(patient, lambda f: f.get("type") == "hello")
    await receive_until(doctor, lambda f: f.get("type") == "hello")
    await patient.send(json.dumps({"type": "waiting"}))
    await receive_until(doctor, lambda f: f.get("type") == "waiting")
    await doctor.send(json.dumps({"type": "admit"}))
    await receive_until(patient, lambda f: f.get("type") == "admitted")
    offer = {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=scaleout\r\n"}
    await doctor.send(json.dumps({"type": "signal", "description": offer}))
    got = await receive_until(patient, lambda f: f.get("type") == "signal")
    answer = {"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=scaleout\r\n"}
    await patient.send(json.dumps({"type": "signal", "description": answer}))
    back = await receive_until(doctor, lambda f: f.get("type") == "signal")
    await patient.close()
    await doctor.close()
    if got["description"] != offer or back["description"] != answer:
        fail(f"the video room's signaling did not cross the web processes intact: {got}, {back}")
    return lost


# --- 2. a resumable upload across web processes -------------------------------------------------------------


def upload_across_processes(topology: Topology, session: str) -> bool:
    """A 50 MB PDF, its chunks to one web process and the other in turn (no sticky routing): the
    object filed in the bucket must have the SHA-256 of what was sent."""
    import hashlib
    import io
    import urllib.request

    from django.urls import reverse
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("scan.bin", os.urandom(UPLOAD_MB * 1024 * 1024))
    stream = io.BytesIO()
    writer.write(stream)
    content = stream.getvalue()
    token = "scaleout" * 4
    headers = {"Cookie": f"sessionid={session}; csrftoken={token}", "X-CSRFToken": token}

    def call(port: int, method: str, path: str, body: bytes, **extra):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}", data=body, method=method, headers={**headers, **extra}
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.headers

    form = f"name=scan.pdf&size={len(content)}&category=imaging".encode()
    status, answer = call(
        topology.web_ports[0], "POST", reverse("boxes:upload_create"), form,
        **{"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://127.0.0.1:{topology.web_ports[0]}"},
    )  # fmt: skip
    if status != 201:
        return False
    path, offset, used = answer["Location"], 0, set()
    while offset < len(content):
        port = topology.web_ports[(offset // CHUNK) % len(topology.web_ports)]
        used.add(port)
        status, answer = call(
            port, "PATCH", path, content[offset : offset + CHUNK],
            **{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
               "Origin": f"http://127.0.0.1:{port}"},
        )  # fmt: skip
        offset = int(answer["Upload-Offset"])
    from django.core.files.storage import storages

    from telemed.boxes.models import Document

    document = Document.objects.filter(name="scan.pdf").latest("pk")
    with storages["default"].open(document.file.name, "rb") as stored:
        digest = hashlib.sha256(stored.read()).hexdigest()
    return status == 201 and len(used) == len(topology.web_ports) and digest == hashlib.sha256(content).hexdigest()


# --- 3. a web process killed under load ---------------------------------------------------------------------


class Side:
    """One person in one conversation, connected through nginx, as the conversation page behaves:
    each message goes with a key of its own and waits until it comes back stored; when the socket
    drops, the side reconnects, asks for what it missed, and sends every message still waiting
    again with its key (the platform stores a key once, and tells the conversation again)."""

    def __init__(self, topology: Topology, conversation_id: int, session: str, name: str, user_id: int):
        self.url = f"ws://127.0.0.1:{topology.nginx_port}/ws/conversations/{conversation_id}/"
        self.origin = f"http://127.0.0.1:{topology.nginx_port}"
        self.session, self.name, self.user_id = session, name, user_id
        self.socket = None
        # As the page: every message up to shown_seq is seen, the last of them is shown_up_to
        # (what a sync asks after); numbers seen past a gap wait in ahead.
        self.shown_seq, self.shown_up_to = 0, 0
        self.ahead: dict[int, int] = {}
        self.gap_asked_at = 0.0
        self.received: dict[str, int] = {}  # text -> message id, every message seen
        self.sent: list[str] = []
        self.waiting: dict[str, str] = {}  # key -> text, sent and not yet seen stored
        self.reconnections = 0
        self.up = asyncio.Event()  # set while the socket is open and synced

    async def open(self) -> None:
        self.socket = await connect(self.url, self.session, self.origin)
        await self.socket.send(json.dumps({"type": "sync", "after": self.shown_up_to}))

    def note(self, frame: dict) -> None:
        if frame.get("type") == "message":
            self.received.setdefault(frame["text"], frame["id"])
            if frame["seq"] > self.shown_seq:
                self.ahead[frame["seq"]] = frame["id"]
            while self.shown_seq + 1 in self.ahead:
                self.shown_seq += 1
                self.shown_up_to = self.ahead.pop(self.shown_seq)
            if frame["sender"] == self.user_id:
                self.waiting.pop(frame.get("key"), None)

    async def ask_for_a_gap(self) -> None:
        """A number seen past a gap: ask for what came after the last one sure (at most every 2 s)."""
        if self.ahead and time.monotonic() - self.gap_asked_at > 2:
            self.gap_asked_at = time.monotonic()
            await self.socket.send(json.dumps({"type": "sync", "after": self.shown_up_to}))

    async def reader(self, stop: asyncio.Event) -> None:
        import websockets

        while not stop.is_set():
            try:
                frame = json.loads(await asyncio.wait_for(self.socket.recv(), 0.5))
                self.note(frame)
                await self.ask_for_a_gap()
            except TimeoutError:
                continue
            except websockets.ConnectionClosed:
                await self.reconnect()

    async def reconnect(self) -> None:
        """Through nginx again (the dead process is skipped), then: what did the platform keep?"""
        self.reconnections += 1
        self.up.clear()  # the writer waits for the new socket
        for _attempt in range(50):
            try:
                await self.open()
                break
            except Exception:  # noqa: BLE001 - nginx answers 502 until it skips the dead process
                await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"{self.name} could not reconnect")
        # The sync's answer: every message after the last one seen (this side's own included),
        # then the other side's read position, which closes it.
        while (frame := json.loads(await asyncio.wait_for(self.socket.recv(), 30))).get("type") != "read":
            self.note(frame)
        # Even one the sync brought back: its process may have died between storing and telling.
        for key, text in list(self.waiting.items()):
            await self.socket.send(json.dumps({"type": "send", "text": text, "key": key}))
        self.up.set()

    async def writer(self) -> None:
        import websockets

        for n in range(KILL_MESSAGES):
            text, key = f"kill {self.name} {n}", f"{self.name}-{n}"
            self.sent.append(text)
            self.waiting[key] = text
            while True:
                await self.up.wait()
                try:
                    await self.socket.send(json.dumps({"type": "send", "text": text, "key": key}))
                    break
                except websockets.ConnectionClosed:
                    await asyncio.sleep(0.05)  # the reader notices, reconnects, then this goes again
            await asyncio.sleep(KILL_INTERVAL)


async def kill_one_web_process_under_load(topology: Topology, pairs: list[tuple]) -> dict:
    sides = []
    for conversation_id, (session_a, user_a), (session_b, user_b) in pairs:
        sides.append(Side(topology, conversation_id, session_a, f"{conversation_id}a", user_a))
        sides.append(Side(topology, conversation_id, session_b, f"{conversation_id}b", user_b))
    for side in sides:
        await side.open()
        side.up.set()
    stop = asyncio.Event()
    readers = [asyncio.create_task(side.reader(stop)) for side in sides]
    writers = [asyncio.create_task(side.writer()) for side in sides]
    await asyncio.sleep(KILL_MESSAGES * KILL_INTERVAL / 3)
    victim_port = topology.web_ports[0]
    victim = topology.web[victim_port]
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    await asyncio.gather(*writers)
    # The last reconnections, resends and deliveries: until each side has seen all the other sent.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(
        set(a.sent) <= set(b.received) and set(b.sent) <= set(a.received)
        for a, b in zip(sides[::2], sides[1::2], strict=True)
    ):
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*readers)
    for side in sides:
        await side.socket.close()
    return {"sides": sides, "victim": victim_port}


def check_kill_run(run: dict, pairs) -> tuple[int, int]:
    """(lost, duplicates): a numbered message not stored, or not seen by the other side, is lost;
    one stored more than once is a duplicate."""
    from django.db.models import Count

    from telemed.messaging.models import Message

    stored = dict(
        Message.objects.filter(text__startswith="kill ").values("text").annotate(n=Count("id")).values_list("text", "n")
    )
    duplicates = sum(n - 1 for n in stored.values() if n > 1)
    sides = run["sides"]
    not_stored = not_received = 0
    for a, b in zip(sides[::2], sides[1::2], strict=True):
        for sender, receiver in ((a, b), (b, a)):
            not_stored += sum(1 for text in sender.sent if text not in stored)
            not_received += sum(1 for text in sender.sent if text in stored and text not in receiver.received)
    if not_stored or not_received:
        print(f"   not stored: {not_stored}; stored but not received by the other side: {not_received}", flush=True)
    return not_stored + not_received, duplicates


# --- 4. a reminder burst with two dispatchers ---------------------------------------------------------------


def reminder_burst(patients) -> list:
    """BURST daily reminders whose occurrence came a minute ago, for the demo's patients."""
    import datetime as dt

    from django.utils import timezone

    from telemed.reminders import services
    from telemed.reminders.models import Reminder
    from telemed.reminders.recurrence import Recurrence
    from telemed.reminders.schedule import Series

    past = (timezone.localtime() - dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    reminders = []
    for n in range(BURST):
        patient = patients[n % len(patients)]
        recurrence = Recurrence(start=past.date() - dt.timedelta(days=1), times=(past.time(),), frequency="daily")
        reminders.append(
            services.reminder_create(
                actor=patient, patient=patient, recurrence=recurrence,
                text=services.ReminderText(kind="therapy", title=f"Scale-out {n}", notes=""),
            )
        )  # fmt: skip
    now = timezone.now()
    for reminder in reminders:
        previous = list(Series.of(reminder).between(now - dt.timedelta(days=2), now))[-1]
        Reminder.objects.filter(pk=reminder.pk).update(next_fire_at=previous)
    return reminders


def burst_duplicates(reminders, patients, notified_before: int, timeout: float = 120) -> int:
    """Wait until every reminder of the burst is sent; the deliveries or notifications beyond one each."""
    from telemed.notifications.models import Notification
    from telemed.reminders.models import Delivery, DeliveryStatus

    deadline = time.monotonic() + timeout
    while Delivery.objects.filter(reminder__in=reminders, status=DeliveryStatus.SENT).count() < len(reminders):
        if time.monotonic() > deadline:
            fail("the reminder burst was not delivered in time")
        time.sleep(0.5)
    time.sleep(3)  # anything sent twice would be sent by now
    deliveries = Delivery.objects.filter(reminder__in=reminders).count()
    notifications = Notification.objects.filter(kind="reminder", recipient__in=patients).count() - notified_before
    return max(0, deliveries - len(reminders)) + max(0, notifications - len(reminders))


# --- 5. backup and restore ----------------------------------------------------------------------------------


def backup_and_restore(topology: Topology, database_url: str) -> bool:
    from urllib.parse import urlsplit

    from psycopg import sql

    folder = topology.scratch / "backup"
    restored = urlsplit(database_url)._replace(path="/telemed_bench_scaleout_restored").geturl()
    with maintenance_connection(database_url) as connection:
        connection.execute("DROP DATABASE IF EXISTS telemed_bench_scaleout_restored WITH (FORCE)")
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("telemed_bench_scaleout_restored")))
    environment = {**os.environ, **topology.env}
    try:
        backup = subprocess.run(
            [sys.executable, "manage.py", "backup", str(folder)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
        )
        print(backup.stdout[-1500:] + backup.stderr[-1500:], flush=True)
        if backup.returncode != 0:
            return False
        restore = subprocess.run(
            [sys.executable, "manage.py", "restore", str(folder), "--database-url", restored,
             "--storage-url", topology.storage_url(f"{BUCKET}-restored")],
            cwd=ROOT, env=environment, capture_output=True, text=True,
        )  # fmt: skip
        print(restore.stdout[-3000:] + restore.stderr[-1500:], flush=True)
        return restore.returncode == 0
    finally:
        with maintenance_connection(database_url) as connection:
            connection.execute("DROP DATABASE IF EXISTS telemed_bench_scaleout_restored WITH (FORCE)")


# --- the run ---------------------------------------------------------------------------------------------------


def demo_people() -> tuple[dict, int, int, list]:
    """Sessions of the demo's patient and doctor, their conversation, their visit (its room open
    now), and the demo's patients (for the reminder burst)."""
    import datetime as dt

    from django.utils import timezone

    from telemed.accounts.models import User
    from telemed.messaging.models import Conversation
    from telemed.visits.models import Booking, BookingStatus

    patient = User.objects.get(email=f"paziente@{DOMAIN}")
    doctor = User.objects.get(email=f"medico@{DOMAIN}")
    conversation = Conversation.objects.filter(participants__user=patient).filter(participants__user=doctor).first()
    booking = Booking.objects.filter(patient=patient, doctor=doctor, status=BookingStatus.BOOKED).order_by("pk").first()
    if conversation is None or booking is None:
        fail("the demo data has no conversation or no booked visit between paziente@ and medico@")
    start = timezone.now() + dt.timedelta(minutes=5)
    Booking.objects.filter(pk=booking.pk).update(start=start, end=start + (booking.end - booking.start))
    sessions = {"patient": login_session(patient), "doctor": login_session(doctor)}
    patients = list(User.objects.filter(email__startswith="paziente", email__endswith=DOMAIN))
    return sessions, conversation.pk, booking.pk, patients


def conversation_pairs(count: int) -> list[tuple]:
    """``count`` Intramed conversations of two doctors each: (id, (session, user id) of each side)."""
    from django.contrib.auth.hashers import make_password

    from telemed.accounts.models import Role, User
    from telemed.messaging.models import Conversation, ConversationKind, Participant

    password = make_password("scaleout-password-2026")
    doctors = User.objects.bulk_create(
        [
            User(
                email=f"scale{n}@scaleout.test",
                first_name="Scale",
                last_name=f"N{n}",
                role=Role.DOCTOR,
                password=password,
            )
            for n in range(count * 2)
        ]
    )
    pairs = []
    for n in range(count):
        a, b = doctors[2 * n], doctors[2 * n + 1]
        conversation = Conversation.objects.create(kind=ConversationKind.INTRAMED, created_by=a, subject=f"Scale {n}")
        Participant.objects.bulk_create([Participant(conversation=conversation, user=u) for u in (a, b)])
        pairs.append((conversation.pk, (login_session(a), a.pk), (login_session(b), b.pk)))
    return pairs


def main() -> None:
    _database_url, redis_url = require_scalable_stack(redis_db=7)
    print(f"scale-out: nginx, {WEB_PROCESSES} web processes, {WORKERS} workers, {DISPATCHERS} dispatchers", flush=True)
    with scratch_platform() as (var_dir, database_url), tempfile.TemporaryDirectory(dir=var_dir) as scratch:
        topology = Topology(Path(scratch))
        try:
            storage_url = topology.start_object_storage()
            os.environ.update(STORAGE_URL=storage_url, TELEMED_DEBUG="false", REDIS_PREFIX="scaleout")
            setup_django_on_scratch(var_dir, database_url)
            from django.core.management import call_command

            call_command("load_demo", verbosity=0)
            sessions, conversation_id, booking_id, patients = demo_people()
            pairs = conversation_pairs(KILL_CONVERSATIONS)
            topology.env = {
                "DATABASE_URL": database_url, "DATABASE_POOL": "false", "REDIS_URL": redis_url,
                "REDIS_PREFIX": "scaleout", "STORAGE_URL": storage_url, "TELEMED_DEBUG": "false",
                "TELEMED_LOG_LEVEL": "WARNING", "TELEMED_BASE_URL": f"http://127.0.0.1:{topology.nginx_port}",
                "FORWARDED_ALLOW_IPS": "127.0.0.1", "PYTHONUNBUFFERED": "1",
            }  # fmt: skip
            topology.start_roles()
            print(f"up: nginx :{topology.nginx_port}, web :{topology.web_ports}, S3 :{topology.s3_port}", flush=True)

            live_lost = asyncio.run(live_across_processes(topology, conversation_id, booking_id, sessions))
            print(
                f"1. live across processes: {2 * LIVE_MESSAGES} messages, {live_lost} lost; signaling crossed",
                flush=True,
            )

            uploads_ok = int(upload_across_processes(topology, sessions["patient"]))
            print(f"2. a {UPLOAD_MB} MB upload, chunks alternating between the web processes: "
                  f"{'complete, SHA-256 right' if uploads_ok else 'FAILED'}", flush=True)  # fmt: skip

            run = asyncio.run(kill_one_web_process_under_load(topology, pairs))
            kill_lost, duplicates = check_kill_run(run, pairs)
            reconnected = sum(1 for side in run["sides"] if side.reconnections)
            print(
                f"3. web :{run['victim']} killed (SIGKILL) under load: {len(run['sides'])} clients, "
                f"{reconnected} reconnected through nginx; lost {kill_lost}, stored twice {duplicates}",
                flush=True,
            )

            from telemed.notifications.models import Notification

            notified_before = Notification.objects.filter(kind="reminder", recipient__in=patients).count()
            reminders = reminder_burst(patients)
            burst_twice = burst_duplicates(reminders, patients, notified_before)
            print(
                f"4. reminder burst of {BURST} with {DISPATCHERS} dispatchers: {burst_twice} delivered twice",
                flush=True,
            )

            restore_ok = backup_and_restore(topology, database_url)
            print(
                f"5. backup and restore into a new database and bucket: {'passed' if restore_ok else 'FAILED'}",
                flush=True,
            )
        except BaseException:
            for name in sorted(path.stem for path in topology.logs.glob("*.log")):
                print(f"--- {name} ---\n{topology.log_tail(name)}", file=sys.stderr)
            raise
        finally:
            topology.stop()
    lost = live_lost + kill_lost
    duplicates += burst_twice
    print(
        f"RESULT scaleout web={WEB_PROCESSES} workers={WORKERS} messages_lost={lost} uploads_ok={uploads_ok} "
        f"duplicates={duplicates} restore_ok={int(restore_ok)}",
        flush=True,
    )
    if lost or duplicates or not uploads_ok or not restore_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
