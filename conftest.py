"""Fixtures shared by every test: people created through the real registration services,
the task queue drained by the real worker, and a real SMTP server."""

import contextlib
import datetime
import io
import itertools
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import pytest
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from telemed.accounts import services
from telemed.accounts.models import Language, Sex, Specialty
from telemed.portal.management.commands.load_demo import (
    demo_codice_fiscale,
    demo_iban,
    demo_partita_iva,
    demo_pdf,
)

PASSWORD = "a-Long-enough-passw0rd"
_sequence = itertools.count(1)


def _own_redis_namespace() -> None:
    """Parallel test workers each have their own database, where ids restart at 1; on a shared
    Redis they would also share room and thread groups and cache keys. Each worker (and the
    servers it starts, which inherit the environment) gets its own prefix."""
    from django.conf import settings

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not (settings.REDIS_URL and worker):
        return
    prefix = f"{settings.REDIS_PREFIX}-test-{worker}"
    os.environ["REDIS_PREFIX"] = prefix
    settings.CACHES["default"]["KEY_PREFIX"] = prefix
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = prefix
    # A test that clears the cache empties its whole Redis database: each worker takes its own
    # database number (1-15), so that it never empties another worker's.
    index = int("".join(c for c in worker if c.isdigit()) or 0)
    url = urllib.parse.urlsplit(settings.REDIS_URL)._replace(path=f"/{1 + index % 15}").geturl()
    os.environ["REDIS_URL"] = url
    settings.CACHES["default"]["LOCATION"] = url
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [url]


_own_redis_namespace()


def log_in(client: Client, user) -> Client:
    """Log ``user`` in on ``client``; a doctor or staff member also past the login's second factor
    (their confirmed authenticator, or a new one, named in the session as if its code was given)."""
    client.force_login(user)
    if user.needs_second_factor:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="test", confirmed=True
        )
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def session_cookie(user) -> str:
    """The Cookie header of a new session of ``user`` (see `log_in`), for WebSocket tests."""
    return f"sessionid={log_in(Client(), user).cookies['sessionid'].value}"


def verified_client(user, *, language: str | None = None) -> Client:
    """A new client logged in as ``user`` (see `log_in`), asking for pages in ``language`` if given."""
    return log_in(Client(HTTP_ACCEPT_LANGUAGE=language) if language else Client(), user)


@pytest.fixture
def files_in_tmp(settings, tmp_path):
    """The test's stored files, staged uploads and rendered images under its own temporary
    folder (the var dir, with the file storage in var/media); returns that var dir."""
    var = tmp_path / "var"
    var.mkdir(exist_ok=True)
    settings.VAR_DIR = var
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "telemed.filestorage.DurableFileSystemStorage", "OPTIONS": {"location": var / "media"}},
    }
    return var


@pytest.fixture(autouse=True)
def english():
    """Every test's own code runs in English, so that assertions on messages that services raise
    read the msgids whatever the Italian catalogue says. Requests through a test client still
    follow Accept-Language (Italian by default); see `english_client`."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def english_client(client):
    """The test client, asking for English pages."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def reference_data(django_db_blocker):
    """Reference rows that data migrations load (specialties, languages, fee rules): a
    transactional test's flush removes them, so put them back."""
    from importlib import import_module

    from django.apps import apps

    if not Specialty.objects.exists():
        import_module("telemed.accounts.migrations.0002_reference_data").load(apps, connection.schema_editor())
    # The staff's fee rules (platform fees, VAT treatment, bank fees, charities) come from a data
    # migration too; without them every price would silently lack its platform-fee line.
    import_module("telemed.billing.migrations.0002_default_fee_rules").seed(apps, connection.schema_editor())
    # The privacy notice and the terms in force: without them no consent would be asked.
    import_module("telemed.accounts.migrations.0008_first_notices").publish(apps, connection.schema_editor())


def person(**overrides) -> services.Person:
    n = next(_sequence)
    return services.Person(
        email=overrides.pop("email", f"person{n}@example.test"),
        password=overrides.pop("password", PASSWORD),
        first_name=overrides.pop("first_name", "Mario"),
        last_name=overrides.pop("last_name", f"Rossi{chr(65 + n % 26)}"),
        language=overrides.pop("language", "it"),
    )


def identity(
    first="Mario", last="Rossi", sex="M", birth=datetime.date(1980, 1, 15), comune="F205"
) -> services.Identity:
    n = next(_sequence)
    # Vary the birth day so that codici fiscali stay unique across a test's people.
    birth = birth + datetime.timedelta(days=n)
    return services.Identity(
        codice_fiscale=demo_codice_fiscale(last, first, birth, sex, comune),
        birth_date=birth,
        sex=Sex(sex),
        phone="+39 333 000 0000",
    )


def certification_uploads() -> list[services.UploadedCertification]:
    uploads = []
    for kind in services.CertificationKind:
        pdf = demo_pdf(kind.label)
        uploads.append(
            services.UploadedCertification(kind=kind, name=f"{kind.value}.pdf", stream=pdf, size=len(pdf.getvalue()))
        )
    return uploads


@pytest.fixture
def make_patient(db):
    def make(**overrides):
        return services.patient_register(person=person(**overrides), identity=identity())

    return make


@pytest.fixture
def make_doctor(db, reference_data):
    def make(specialty="cardiologia", city="Milano", province="MI", **overrides):
        n = next(_sequence)
        return services.doctor_register(
            person=person(**overrides),
            identity=identity(),
            ordine_province=province,
            ordine_number=str(50000 + n),
            partita_iva=demo_partita_iva(200000 + n),
            iban=demo_iban(n),
            practice_address="Via Verdi 1",
            practice_city=city,
            practice_postcode="20121",
            practice_province=province,
            specialties=list(Specialty.objects.filter(code=specialty)),
            languages=list(Language.objects.filter(code="it")),
            certifications=certification_uploads(),
        )

    return make


@pytest.fixture
def run_tasks(db):
    """Drain the task queue with the real database worker's task runner.

    The worker's own loop closes database connections between tasks, which would
    end the test's transaction; so claim and run each ready task here instead.
    """
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    worker = Worker(
        queue_names=["*"], interval=0, batch=True, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id="pytest", excluded_queue_names=[],
    )  # fmt: skip

    def run() -> int:
        count = 0
        while (result := DBTaskResult.objects.ready().order_by("enqueued_at").first()) is not None:
            result.claim(worker.worker_id)
            worker.run_task(result)
            result.refresh_from_db()
            assert result.status == "SUCCESSFUL", result.traceback
            count += 1
        return count

    return run


@pytest.fixture
def run_tasks_twice(db):
    """Like ``run_tasks``, but each task runs a second time right after its first run, as when
    its worker died after the work and before marking it done and the reaper gave it back
    (telemed/workers): same row, same id. Returns the names of the tasks run."""
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    worker = Worker(
        queue_names=["*"], interval=0, batch=True, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id="pytest", excluded_queue_names=[],
    )  # fmt: skip

    def run() -> list[str]:
        names = []
        while (result := DBTaskResult.objects.ready().order_by("enqueued_at").first()) is not None:
            for attempt in ("first", "again"):
                result.claim(f"pytest-{attempt}")
                worker.run_task(result)
                result.refresh_from_db()
                assert result.status == "SUCCESSFUL", result.traceback
            names.append(result.task_path.rsplit(".", 1)[-1])
        return names

    return run


# Crash tests kill real processes on the PostgreSQL stack (SQLite is one process's file).
CRASH_TEST_MARKS = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="crash tests run on the PostgreSQL stack"),
]


def process_stop(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """Stop a test's subprocess as an operator would: SIGTERM, a while to finish, then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def task_worker_process(env: dict, interval: float = 0.1) -> subprocess.Popen:
    """A real task worker (``manage.py task_worker``) in a session of its own, for a test to kill."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "task_worker", "--interval", str(interval), "--no-startup-delay", "--no-reload"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def record_flushes(monkeypatch, rows_now) -> list[tuple[int, str, int]]:
    """Every flush from now on, as (inode, "bytes" for a file or "names" for a folder, what
    ``rows_now()`` returned at that moment): the flushes happen, on the real disk, as before."""
    flushed: list[tuple[int, str, int]] = []
    fdatasync, fsync = os.fdatasync, os.fsync

    def recorded(flush, what):
        def call(fd):
            flushed.append((os.fstat(fd).st_ino, what, rows_now()))
            flush(fd)

        return call

    monkeypatch.setattr(os, "fdatasync", recorded(fdatasync, "bytes"))
    monkeypatch.setattr(os, "fsync", recorded(fsync, "names"))
    return flushed


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.refusal = ""  # an SMTP reply such as "554 ..." to refuse every message with
        self.refused_recipients: set[str] = set()  # addresses whose messages are refused (550)
        self.connections: set[int] = set()  # the SMTP sessions that delivered a message
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import email
                from email import policy

                if sink.refusal:
                    return sink.refusal
                if sink.refused_recipients & set(envelope.rcpt_tos):
                    return "550 5.1.1 Mailbox unavailable"
                sink.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
                sink.connections.add(id(session))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def wait_for(self, recipient: str, subject: str = "", timeout: float = 20) -> "email.message.EmailMessage":  # noqa: F821
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if recipient in message["To"] and subject in message["Subject"]:
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no e-mail to {recipient} within {timeout}s; got {[m['To'] for m in self.messages]}")


@pytest.fixture
def smtp_server():
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Send this test's e-mails to the real SMTP server through the platform's SMTP backend."""
    settings.EMAIL_BACKEND = "telemed.outbox.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return smtp_server


def image_bytes(fmt: str = "PNG") -> io.BytesIO:
    from PIL import Image

    stream = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(stream, fmt)
    stream.seek(0)
    return stream


ROOT = pathlib.Path(__file__).resolve().parent


def database_url_for_subprocesses() -> str:
    """The URL of the test database this process uses, for servers started as subprocesses."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@contextlib.contextmanager
def platform_process(*, port: int, env: dict, args: tuple = (), timeout: float = 60):
    """`manage.py serve` as a subprocess until the block ends; yields its base URL once /healthz is up."""
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_POOL": "false", "TELEMED_BASE_URL": base_url, **env}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the server keeps Django's async-safety checks
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the platform did not start:\n{log.read()}")
                time.sleep(0.2)
            yield base_url
        finally:
            process_stop(process, timeout=20)


class S3Server:
    """moto's standalone S3 server: a real subprocess speaking the S3 HTTP protocol on a free
    loopback port, the platform's object storage in tests (``STORAGE_URL=s3+http://…``)."""

    ACCESS_KEY, SECRET_KEY, REGION = "telemed-test", "telemed-test-secret", "eu-south-1"

    def __init__(self):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    process_stop(self.process)
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.REGION,
            aws_access_key_id=self.ACCESS_KEY, aws_secret_access_key=self.SECRET_KEY,
        )  # fmt: skip

    def new_bucket(self) -> "S3Bucket":
        import uuid

        name = f"telemed-{uuid.uuid4().hex[:20]}"
        client = self.client()
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.REGION})
        return S3Bucket(self, name, client)


class S3Bucket:
    def __init__(self, server: S3Server, name: str, client):
        self.server, self.name, self.client = server, name, client

    @property
    def storage_url(self) -> str:
        server = self.server
        return f"s3+http://{server.ACCESS_KEY}:{server.SECRET_KEY}@127.0.0.1:{server.port}/{self.name}?region={server.REGION}"

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def multipart_uploads(self) -> list[dict]:
        return self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])


@pytest.fixture(scope="session")
def s3_server():
    """One S3 server for the test session (each test takes a fresh bucket: see `object_storage`)."""
    pytest.importorskip("moto.server", reason="moto[server] (the test extra) is not installed")
    server = S3Server()
    try:
        yield server
    finally:
        process_stop(server.process)


@pytest.fixture
def object_storage(settings, tmp_path, s3_server) -> S3Bucket:
    """The platform's files in a fresh bucket of the S3 server, as ``STORAGE_URL`` sets them in
    production; the var dir (and the unused media dir in it) under the test's temporary folder."""
    from telemed.settings import storage_from_url

    bucket = s3_server.new_bucket()
    var = tmp_path / "var"
    (var / "media").mkdir(parents=True)
    settings.VAR_DIR = var
    settings.MEDIA_ROOT = var / "media"
    settings.STORAGE_URL = bucket.storage_url
    settings.STORAGES = {**settings.STORAGES, "default": storage_from_url(bucket.storage_url)}
    return bucket
