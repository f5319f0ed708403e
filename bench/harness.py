"""The benchmark harness: what the scripts in bench/ need around their measurements.

Each benchmark runs as ``python bench/<name>.py`` (``make bench NAME=<name>``), so this module
is imported as ``harness``; the benchmark's name is its script's. Importing it puts the checkout
on ``sys.path``, so that the benchmarks can import telemed whichever folder they start from.

A benchmark drops and creates its database and starts the platform's own processes; everything
here keeps that to scratch state and to 127.0.0.1, and leaves the measuring to the scripts.
"""

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
POSTGRES_SCHEMES = frozenset({"postgres", "postgresql", "pgsql"})


def benchmark_name() -> str:
    """The running benchmark's name (``billing`` for bench/billing.py), for its messages and scratch names."""
    return Path(sys.argv[0]).stem


def fail(message: str) -> NoReturn:
    """Stop the benchmark with ``message``: exit status 2 and no RESULT line, so that a broken run
    can never be read as a figure."""
    print(f"bench {benchmark_name()}: {message}", file=sys.stderr)
    sys.exit(2)


# --- the database -----------------------------------------------------------------------------------


def bench_database_name(url: str) -> str:
    """The name of the PostgreSQL database of ``url``, refused unless it may be wiped.

    Every benchmark drops its PostgreSQL database and creates it again. A DATABASE_URL left
    exported in the shell can name a development or production database; requiring "bench" in
    the name means that running a benchmark can never wipe one of those by mistake. The server
    must be this machine's: the figures are this machine's, and nothing of a benchmark leaves it.
    """
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in POSTGRES_SCHEMES:
        fail("DATABASE_URL must name a PostgreSQL database.")
    if "bench" not in name:
        fail(f"the database {name!r} would be dropped and created again: its name must contain 'bench'.")
    if parts.hostname not in LOOPBACK:
        fail("the benchmark runs on this machine only: DATABASE_URL must point at 127.0.0.1.")
    return name


def require_scalable_stack(*, redis_db: int | None = None) -> tuple[str, str]:
    """DATABASE_URL (and, when ``redis_db`` is given, REDIS_URL) of the benchmarks that measure the
    stack production scales on, PostgreSQL (and Redis): the embedded SQLite default would measure
    something else, so they refuse to run without it."""
    name = benchmark_name()
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if urlsplit(database_url).scheme not in POSTGRES_SCHEMES or (redis_db is not None and not redis_url):
        example = f"DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_{name}"
        if redis_db is not None:
            example += f" REDIS_URL=redis://127.0.0.1:6379/{redis_db}"
        fail(
            "this benchmark measures the scalable stack: set DATABASE_URL to a PostgreSQL database whose name "
            f"contains 'bench'{' and REDIS_URL' if redis_db is not None else ''}, e.g.\n  {example} make bench NAME={name}"
        )
    bench_database_name(database_url)
    return database_url, redis_url


def maintenance_connection(url: str):
    """An autocommit connection to the server's ``postgres`` database: a database cannot be dropped,
    created or altered from a connection to itself."""
    import psycopg

    return psycopg.connect(urlsplit(url)._replace(path="/postgres").geturl(), autocommit=True)


def recreate_database(url: str, *, keep_existing: bool = False) -> bool:
    """Drop the benchmark's PostgreSQL database and create it empty, so that every run measures the
    same state; with ``keep_existing``, an existing one is kept (a long load is not redone).
    True if it was created."""
    from psycopg import sql

    name = bench_database_name(url)
    with maintenance_connection(url) as connection:
        if keep_existing and connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def drop_database(url: str) -> None:
    """Drop the benchmark's PostgreSQL database, whoever is still connected to it."""
    from psycopg import sql

    name = bench_database_name(url)
    with maintenance_connection(url) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def scratch_database(var_dir: Path) -> tuple[str, Callable[[], None]]:
    """The database URL of one run, and how to drop it afterwards: a SQLite file in the scratch var
    dir (the embedded default), or, when DATABASE_URL is set, that PostgreSQL database created again."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return f"sqlite:///{var_dir / 'bench.sqlite3'}", lambda: None
    recreate_database(url)
    return url, lambda: drop_database(url)


@contextlib.contextmanager
def scratch_platform() -> Iterator[tuple[Path, str]]:
    """A scratch var dir and database for one run, removed (and dropped) when the run ends, however
    it ends: a benchmark never writes into the developer's var dir or database.

    The folder goes under the checkout's var/ when there is one, not the system's temporary folder:
    that is often a RAM-backed tmpfs, too small for the large files and faster than the disk the
    platform really writes to."""
    var = ROOT / "var"
    var_dir = Path(tempfile.mkdtemp(prefix=f"telemed-bench-{benchmark_name()}-", dir=var if var.is_dir() else None))
    drop = lambda: None  # noqa: E731
    try:
        database_url, drop = scratch_database(var_dir)
        yield var_dir, database_url
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        drop()
        shutil.rmtree(var_dir, ignore_errors=True)


# --- Django in this process ---------------------------------------------------------------------------


def setup_django() -> None:
    """Django in the benchmark's own process (to prepare the data the platform will serve), on the
    database and settings the environment names."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")
    django.setup()


def migrate() -> None:
    """Migrate the benchmark's database without a word: a benchmark prints only its figures."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def setup_django_on_scratch(var_dir: Path, database_url: str) -> None:
    """Django set up and migrated on the scratch var dir and database. They go into the environment,
    so that the server and worker processes started afterwards use the very same ones."""
    os.environ.update(
        TELEMED_VAR_DIR=str(var_dir), DATABASE_URL=database_url, DATABASE_POOL="false", TELEMED_LOG_LEVEL="WARNING"
    )
    setup_django()
    migrate()


def setup_django_on_new_database(database_url: str) -> None:
    """The benchmark's PostgreSQL database dropped, created empty and migrated, with Django set up on
    it in this process: every run starts from the same state."""
    recreate_database(database_url)
    setup_django()
    migrate()


def login_session(user) -> str:
    """The key of a new session of ``user``, as the login view would leave it: a benchmark measures
    what a logged-in user does, not the login. Doctors and staff also pass the second factor (a
    confirmed authenticator in the session); without it pages redirect them and every WebSocket
    consumer treats them as anonymous."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    # The model backend, as the login view records it (axes' backend only checks lockouts).
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if user.needs_second_factor:
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(
            user=user, name="bench", confirmed=True
        ).persistent_id
    session.create()
    return session.session_key


def patient_session(extra_bytes: int, number: int = 1) -> str:
    """A patient, logged in (see ``login_session``), whose box holds ``extra_bytes`` more than the
    free quota: the files the upload benchmarks send are larger than that. Each ``number`` is
    another patient."""
    import datetime

    from telemed.accounts import services as accounts
    from telemed.boxes import services as boxes
    from telemed.portal.management.commands.load_demo import demo_codice_fiscale

    birth = datetime.date(1980, 5, 1) + datetime.timedelta(days=number)
    email = "bench.patient@example.test" if number == 1 else f"bench.patient{number}@example.test"
    user = accounts.patient_register(
        person=accounts.Person(email, "a-bench-password-2026", "Bruno", "Panca"),
        identity=accounts.Identity(
            codice_fiscale=demo_codice_fiscale("Panca", "Bruno", birth, "M", "F205"), birth_date=birth, sex="M",
            phone="+39 333 000 0000",
        ),
    )  # fmt: skip
    boxes.box_quota_raise(box=boxes.box_for(user), extra_bytes=extra_bytes, reason="benchmark")
    return login_session(user)


# --- the platform's processes ------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on, so that a benchmark's server never meets a developer's."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, what: str, timeout: float = 60, log=None) -> None:
    """Wait until ``url`` answers 200, so that no measurement includes a server's start-up; if
    ``process`` exits first or the time runs out, stop it and the benchmark, with the end of its
    ``log`` (when it can be read back) to say why."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
        if process.poll() is not None:
            break
    process.terminate()
    output = ""
    if log is not None and log.readable():
        log.seek(0)
        output = ":\n" + log.read()[-3000:]
    fail(f"{what} did not start{output}")


def start_platform(port: int, *options: str, env: dict | None = None, log=None) -> subprocess.Popen:
    """The real platform, as production runs it (``manage.py serve``: uvicorn and the ASGI
    application, and the task worker unless ``--no-worker`` is among ``options``) on ``port`` of
    127.0.0.1, up and answering. Its output goes to ``log``; without one, its standard output is
    discarded and its errors still reach the terminal.

    It runs with DEBUG off, as production does (DEBUG keeps every query in memory and renders
    templates with their debug information), and inherits this process's environment (the
    benchmark's database, var dir) with ``env`` on top,
    but never DJANGO_ALLOW_ASYNC_UNSAFE, which a test shell may export: the server must keep
    Django's async-safety checks, as in production."""
    environment = {
        **os.environ, "TELEMED_BASE_URL": f"http://127.0.0.1:{port}", "TELEMED_LOG_LEVEL": "WARNING",
        "TELEMED_DEBUG": "false", **(env or {}),
    }  # fmt: skip
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", *options, "--port", str(port)], cwd=ROOT, env=environment,
        stdout=log if log is not None else subprocess.DEVNULL, stderr=subprocess.STDOUT if log is not None else None,
    )  # fmt: skip
    wait_until_serving(f"http://127.0.0.1:{port}/healthz", process, "the platform", log=log)
    return process


def stop_processes(*processes: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to all (``serve`` then stops its uvicorn and worker children), then wait for each,
    killing one that does not stop in time: no benchmark leaves a server behind."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def asgi_server() -> str:
    """Which ASGI server ``serve`` runs in this benchmark (``TELEMED_ASGI_SERVER``, uvicorn unless
    set), for the printed figures: ``TELEMED_ASGI_SERVER=granian make bench NAME=upload``."""
    return os.environ.get("TELEMED_ASGI_SERVER", "uvicorn")


def server_processes(serve_pid: int) -> list[int]:
    """The ASGI server's (and task worker's) processes that ``serve`` started: its children, and
    theirs (the server's workers). Their memory is the platform's; ``serve`` itself only supervises."""
    try:
        children = Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split()
    except OSError:
        return []
    pids = [int(pid) for pid in children]
    for pid in list(pids):
        try:
            pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            pass
    return pids


def peak_rss_mb(pids: list[int]) -> float:
    """The largest peak resident memory (VmHWM, MB) of the processes: the kernel keeps the high-water
    mark, so a peak between two samples is not missed. NaN when none can be read."""
    peaks = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return max(peaks) if peaks else float("nan")


class Client:
    """A logged-in browser's HTTP/1.1 keep-alive connection to the platform: it sends the session
    and keeps the cookies the server sets (the CSRF cookie among them), as a browser would."""

    def __init__(self, port: int, session_key: str):
        self.port = port
        self.cookies = {"sessionid": session_key}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep_cookies(self, response) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]

    def request(self, method: str, path: str, body=None, headers=None):
        headers = {"Cookie": self.cookie_header(), "Accept-Language": "en", **(headers or {})}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        self._keep_cookies(response)
        return response, data

    def csrf_token(self) -> str:
        """A CSRF token for the requests that change something, from the patient's box page."""
        response, page = self.request("GET", "/box/")
        if response.status != 200:
            fail(f"GET /box/ answered {response.status}")
        return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()


# --- the WebSocket baseline ----------------------------------------------------------------------------

# A relay with nothing of telemed (no database, no Django, no Channels): each message goes to the
# others on the same path. What the live benchmarks' exchanges cost over WebSockets alone.
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


@contextlib.contextmanager
def bare_relay() -> Iterator[int]:
    """The bare relay running in a process of its own (as the platform's server is), for the length
    of the ``with`` block; yields its port once it accepts connections."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", BARE_RELAY, str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    fail("the bare relay did not start")
                time.sleep(0.1)
        yield port
    finally:
        stop_processes(process)


# --- figures -------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 for p99) of ``values``; NaN when there are none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes, as printed next to the figures: other
    work on the machine weighs on them."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())
