"""Benchmark of one large resumable upload, over HTTP against the real server.

    make bench NAME=upload
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_upload make bench NAME=upload

What it does, in one run (about a minute):

1. makes a scratch var dir (files, part files, and the SQLite database when
   DATABASE_URL is not set; a PostgreSQL database is dropped and created again,
   only if its name contains "bench") and migrates it;
2. creates a patient whose Welbox gets 2 GB more through ``box_quota_raise`` (the
   free 1 GB would refuse the file), and writes a 1.5 GB ZIP (the kind of file a
   radiology CD becomes; stored, incompressible content) next to it;
3. the baseline: a plain ``cp`` of the same file on the same file system, timed;
4. starts the real platform (``manage.py serve --no-worker``: uvicorn and the ASGI
   application) on a free loopback port, against the scratch database;
5. uploads the file with the page's protocol: ``POST /box/uploads/``, then
   ``PATCH`` chunks of ``--chunk-mb`` MB with ``Upload-Offset``, each streamed from
   the file in 1 MB blocks, until the last one answers 201; the time runs from the
   POST to that answer, so it includes the server's SHA-256 pass, the type check
   and the move into storage; then checks that the stored SHA-256 is the file's;
6. prints MB/s against ``cp``'s, and the server's peak resident memory (VmHWM of
   the uvicorn process, from /proc) before and after the upload, and ends with
   ``RESULT upload mb_per_s=… cp_mb_per_s=… ratio=… peak_rss_mb=…``.

All traffic goes to 127.0.0.1. What to expect: memory flat (the peak does not grow
with the file). Speed: every byte crosses HTTP, Django's request spooling, the part
file, and one SHA-256 pass at completion; on a CPU without SHA instructions that
pass alone runs at about 250 MB/s, so the upload cannot come near ``cp``.
"""

import argparse
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
BLOCK = MB
TIMEOUT_SECONDS = 900


def fail(message: str) -> "NoReturn":  # noqa: F821
    print(f"bench upload: {message}", file=sys.stderr)
    sys.exit(2)


def scratch_database(var_dir: Path) -> tuple[str, callable]:
    """The database URL to use, and how to drop it afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        return f"sqlite:///{var_dir / 'bench.sqlite3'}", lambda: None
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in {"postgres", "postgresql"} or "bench" not in name:
        fail("DATABASE_URL must be a PostgreSQL database whose name contains 'bench' (it is dropped and created).")
    if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        fail("the benchmark runs on this machine only: DATABASE_URL must point at 127.0.0.1.")
    import psycopg
    from psycopg import sql

    admin = parts._replace(path="/postgres").geturl()

    def run(statement):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(statement)

    run(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    run(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url, lambda: run(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def setup_django(var_dir: Path, database_url: str) -> None:
    os.environ.update(
        TELEMED_VAR_DIR=str(var_dir), DATABASE_URL=database_url, DATABASE_POOL="false", TELEMED_LOG_LEVEL="WARNING"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telemed.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def make_patient_session(extra_bytes: int) -> str:
    """A patient, logged in (a session row, as the login view would leave it), with room for the file."""
    import datetime

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from telemed.accounts import services as accounts
    from telemed.boxes import services as boxes
    from telemed.portal.management.commands.load_demo import demo_codice_fiscale

    birth = datetime.date(1980, 5, 2)
    user = accounts.patient_register(
        person=accounts.Person("bench.upload@example.test", "a-bench-password-2026", "Bruno", "Panca"),
        identity=accounts.Identity(
            codice_fiscale=demo_codice_fiscale("Panca", "Bruno", birth, "M", "F205"), birth_date=birth, sex="M",
            phone="+39 333 000 0000",
        ),
    )  # fmt: skip
    boxes.box_quota_raise(box=boxes.box_for(user), extra_bytes=extra_bytes, reason="benchmark")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def write_zip(path: Path, size: int) -> str:
    """A stored (uncompressed) ZIP of about ``size`` bytes of incompressible content; returns its SHA-256."""
    block = os.urandom(16 * MB)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("DICOM/IM000001", "w", force_zip64=True) as member:
            written = 0
            while written < size - 4096:
                piece = block[: min(len(block), size - 4096 - written)]
                member.write(piece)
                written += len(piece)
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while data := stream.read(8 * MB):
            digest.update(data)
    return digest.hexdigest()


def drop_page_cache_of(path: Path) -> None:
    """Let the file's pages stay cached: cp and the upload read it the same way (from memory)."""
    with open(path, "rb") as stream:
        while stream.read(8 * MB):
            pass


def time_cp(source: Path, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(var_dir: Path, database_url: str, port: int, log) -> subprocess.Popen:
    env = {
        **os.environ, "TELEMED_VAR_DIR": str(var_dir), "DATABASE_URL": database_url, "DATABASE_POOL": "false",
        "TELEMED_BASE_URL": f"http://127.0.0.1:{port}", "TELEMED_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-worker", "--port", str(port)], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
        if process.poll() is not None:
            break
    process.terminate()
    fail("the server did not start")


def server_processes(serve_pid: int) -> list[int]:
    """The uvicorn process(es) that ``serve`` started (its children)."""
    try:
        children = Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split()
    except OSError:
        return []
    pids = [int(pid) for pid in children]
    for pid in list(pids):  # uvicorn --workers > 1 has children of its own
        try:
            pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            pass
    return pids


def peak_rss_mb(pids: list[int]) -> float:
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
    def __init__(self, port: int, session_key: str):
        self.port = port
        self.cookies = {"sessionid": session_key}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep_cookies(self, response) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]

    def request(self, method: str, path: str, body=None, headers=None):
        headers = {"Cookie": self._cookie_header(), "Accept-Language": "en", **(headers or {})}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        self._keep_cookies(response)
        return response, data

    def csrf_token(self) -> str:
        response, page = self.request("GET", "/box/")
        if response.status != 200:
            fail(f"GET /box/ answered {response.status}")
        return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()

    def patch_chunk(self, url: str, token: str, source, offset: int, length: int):
        """Stream ``length`` bytes of ``source`` from ``offset`` as one PATCH, in 1 MB blocks."""
        self.conn.putrequest("PATCH", url)
        for name, value in {
            "Cookie": self._cookie_header(), "X-CSRFToken": token, "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream", "Content-Length": str(length),
            "Origin": f"http://127.0.0.1:{self.port}", "Referer": f"http://127.0.0.1:{self.port}/box/",
        }.items():  # fmt: skip
            self.conn.putheader(name, value)
        self.conn.endheaders()
        source.seek(offset)
        left = length
        while left:
            block = source.read(min(BLOCK, left))
            self.conn.send(block)
            left -= len(block)
        response = self.conn.getresponse()
        return response, response.read()


def upload(client: Client, path: Path, chunk: int) -> tuple[float, dict]:
    import json

    token = client.csrf_token()
    size = path.stat().st_size
    headers = {
        "X-CSRFToken": token, "Content-Type": "application/x-www-form-urlencoded",
        "Origin": f"http://127.0.0.1:{client.port}", "Referer": f"http://127.0.0.1:{client.port}/box/",
    }  # fmt: skip
    started = time.perf_counter()
    response, body = client.request(
        "POST", "/box/uploads/", body=f"name=cd-radiologia.zip&size={size}&category=imaging", headers=headers
    )
    if response.status != 201:
        fail(f"POST /box/uploads/ answered {response.status}: {body[:300]!r}")
    url = json.loads(body)["url"]
    offset = 0
    with open(path, "rb") as source:
        while offset < size:
            length = min(chunk, size - offset)
            sent_at = time.perf_counter()
            response, body = client.patch_chunk(url, token, source, offset, length)
            last_patch = time.perf_counter() - sent_at
            if response.status not in (201, 204):
                fail(f"PATCH at {offset} answered {response.status}: {body[:300]!r}")
            offset = int(response.getheader("Upload-Offset"))
    elapsed = time.perf_counter() - started
    if response.status != 201:
        fail("the last chunk did not complete the upload")
    # The last PATCH includes the completion: type check, SHA-256 pass and the move into storage.
    return elapsed, {**json.loads(body), "last_patch_seconds": last_patch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1536, help="size of the file (default 1536 = 1.5 GB)")
    parser.add_argument("--chunk-mb", type=int, default=8, help="size of each PATCH (default 8, as the page sends)")
    args = parser.parse_args()
    size, chunk = args.size_mb * MB, args.chunk_mb * MB

    var_dir = Path(tempfile.mkdtemp(prefix="telemed-bench-upload-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
    server = None
    drop = lambda: None  # noqa: E731
    try:
        database_url, drop = scratch_database(var_dir)
        print(f"database: {database_url.split('@')[-1]}; files under {var_dir}")
        setup_django(var_dir, database_url)
        session_key = make_patient_session(extra_bytes=2 * 1024**3)

        source = var_dir / "cd-radiologia.zip"
        print(f"writing a {args.size_mb} MB ZIP…", flush=True)
        expected_sha256 = write_zip(source, size)
        real_size = source.stat().st_size
        drop_page_cache_of(source)
        cp_seconds = time_cp(source, var_dir / "copy.zip")
        cp_mb_per_s = real_size / MB / cp_seconds
        print(f"cp: {real_size / MB:.0f} MB in {cp_seconds:.2f} s = {cp_mb_per_s:.0f} MB/s")

        port = free_port()
        log = open(var_dir / "serve.log", "w+")  # noqa: SIM115 - read on failure, removed with the folder
        server = start_server(var_dir, database_url, port, log)
        pids = server_processes(server.pid)
        client = Client(port, session_key)
        client.csrf_token()  # warm up: imports, templates, the first connection
        idle_rss = peak_rss_mb(pids)

        deadline = time.monotonic() + TIMEOUT_SECONDS
        elapsed, answer = upload(client, source, chunk)
        if time.monotonic() > deadline:
            fail("the upload took longer than the benchmark allows")
        peak = peak_rss_mb(pids)

        from telemed.boxes.models import Document

        document = Document.objects.get(pk=int(answer["document_url"].rstrip("/").rsplit("/", 1)[-1]))
        if document.sha256 != expected_sha256 or document.size != real_size:
            fail("the stored file is not the one sent")
        mb_per_s = real_size / MB / elapsed
        ratio = mb_per_s / cp_mb_per_s
        print(f"upload: {real_size / MB:.0f} MB in {elapsed:.2f} s = {mb_per_s:.0f} MB/s over HTTP, {chunk // MB} MB chunks, "
              f"SHA-256 checked ({document.mime})")  # fmt: skip
        print(f"of which the last chunk and the completion (type check, SHA-256, move into storage): {answer['last_patch_seconds']:.2f} s")
        print(f"baseline cp: {cp_mb_per_s:.0f} MB/s; ratio {ratio:.2f}")
        print(f"server peak RSS (VmHWM of uvicorn, pid {pids}): {idle_rss:.0f} MB after warm-up, {peak:.0f} MB after the upload")
        print(f"RESULT upload mb_per_s={mb_per_s:.1f} cp_mb_per_s={cp_mb_per_s:.1f} ratio={ratio:.3f} peak_rss_mb={peak:.1f}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not be set up yet
            pass
        drop()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
