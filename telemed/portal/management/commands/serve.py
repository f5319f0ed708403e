"""Run the whole platform in one command: the ASGI server, the background task worker and
the reminder dispatcher, as child processes of this supervisor.

Rules:
- A child that dies is started again, after a pause that doubles with each recent death
  (0.5 s, 1 s, 2 s… at most ``BACKOFF_MAX_S``); each death and restart is logged. The other
  children keep running meanwhile.
- A child that keeps dying (``MAX_DEATHS`` deaths within ``DEATH_WINDOW_S``) is broken, not
  unlucky: the supervisor stops everything and exits with an error, so that the operator's
  service manager sees it.
- Ctrl-C (SIGINT) or SIGTERM stops all children cleanly (SIGTERM, then SIGKILL after
  ``GRACE_SECONDS``).
- With ``--workers`` above 1, the server's processes share their Prometheus values in a directory
  under ``VAR_DIR`` emptied at each start (unless ``PROMETHEUS_MULTIPROC_DIR`` names one already),
  so that a scrape of /metrics counts all of them, whichever answers it.
"""

import collections
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from telemed.observability.metrics import MULTIPROCESS_ENV

GRACE_SECONDS = 10
MAX_DEATHS = 5
DEATH_WINDOW_S = 60.0
BACKOFF_MAX_S = 10.0


def backoff(recent_deaths: int) -> float:
    """Seconds to wait before starting again a child that died ``recent_deaths`` times lately."""
    return min(BACKOFF_MAX_S, 0.5 * 2 ** max(0, recent_deaths - 1))


SERVERS = ("uvicorn", "granian")


def server_command(server: str, *, host: str, port: int, workers: int) -> list[str]:
    """The command line of the ASGI server. Both serve HTTP/1.1 and WebSockets without the ASGI
    lifespan protocol (the application has no startup work) and take X-Forwarded-For only from
    a trusted proxy (FORWARDED_ALLOW_IPS, 127.0.0.1 by default)."""
    if server == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "asginl", "--ws", "--host", host, "--port", str(port),
            "--workers", str(workers), "--no-access-log", "--log-level", "warning", "telemed.asgi_granian:application",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", settings.ASGI_APPLICATION.replace(".application", ":application"),
        "--host", host, "--port", str(port), "--workers", str(workers), "--no-access-log",
        "--proxy-headers", "--lifespan", "off", "--ws-max-size", str(1024 * 1024),
    ]  # fmt: skip


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    # Each child leads its own process group (start_new_session), which holds its own workers.
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def metrics_environment(workers: int) -> dict[str, str]:
    """What the server's environment gains so that its ``workers`` processes sum their metrics."""
    if workers <= 1 or os.environ.get(MULTIPROCESS_ENV):
        return {}
    directory = Path(settings.VAR_DIR) / "metrics"
    shutil.rmtree(directory, ignore_errors=True)  # the values of an earlier run are not this one's
    directory.mkdir(parents=True, mode=0o700)
    return {MULTIPROCESS_ENV: str(directory)}


@dataclass
class Child:
    name: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)  # added to the supervisor's environment
    process: subprocess.Popen | None = None
    deaths: collections.deque = field(default_factory=collections.deque)
    start_at: float = 0.0  # monotonic time of the next start, while it is down


class Command(BaseCommand):
    help = "Start the ASGI server (uvicorn), the task worker and the reminder dispatcher together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TELEMED_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TELEMED_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=1, help="ASGI worker processes")
        parser.add_argument(
            "--server",
            choices=SERVERS,
            default=os.environ.get("TELEMED_ASGI_SERVER", "uvicorn"),
            help="the ASGI server: uvicorn, or Granian (reads request bodies several times faster)",
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="do not start the task worker nor the reminder dispatcher"
        )

    def handle(self, *args, host, port, workers, no_worker, server, **options):
        server_cmd = server_command(server, host=host, port=port, workers=workers)
        worker_cmd = [
            sys.executable, "-m", "django", "task_worker",
            "--interval", str(settings.WORKER_INTERVAL), "--no-startup-delay", "--no-reload",
        ]  # fmt: skip
        dispatcher_cmd = [sys.executable, "-m", "django", "reminders_dispatch"]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "telemed.settings")}
        children = [Child("server", server_cmd, metrics_environment(workers))]
        if not no_worker:
            children += [Child("task worker", worker_cmd), Child("reminder dispatcher", dispatcher_cmd)]
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        def start(child: Child) -> None:
            # Children get their own process group so that the terminal's Ctrl-C reaches
            # only this supervisor, which then stops them in order.
            child.process = subprocess.Popen(child.cmd, env={**env, **child.env}, start_new_session=True)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for child in children:
            start(child)
        self.stdout.write(f"telemed is running at http://{host}:{port}/  (Ctrl-C to stop)", self.style.SUCCESS)

        exit_code = 0
        while not stopping:
            now = time.monotonic()
            for child in children:
                if child.process is None:
                    if now >= child.start_at:
                        start(child)
                        self.stderr.write(f"{child.name} started again (pid {child.process.pid})")
                    continue
                if child.process.poll() is None:
                    continue
                while child.deaths and child.deaths[0] < now - DEATH_WINDOW_S:
                    child.deaths.popleft()
                child.deaths.append(now)
                code = child.process.returncode
                # What the dead child started (Granian's or uvicorn's worker processes) must not
                # outlive it: an orphaned worker keeps the port and the next start would fail.
                _signal_group(child.process, signal.SIGKILL)
                if len(child.deaths) >= MAX_DEATHS:
                    self.stderr.write(
                        f"{child.name} exited with {code}, {len(child.deaths)} times in {DEATH_WINDOW_S:.0f} s; stopping"
                    )
                    exit_code, stopping = code or 1, True
                    break
                pause = backoff(len(child.deaths))
                self.stderr.write(f"{child.name} exited with {code}; starting it again in {pause:.1f} s")
                child.process, child.start_at = None, now + pause
            time.sleep(0.2)

        running = [child.process for child in children if child.process is not None]
        for process in running:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            _signal_group(process, signal.SIGKILL)  # a worker left behind by its master
        self.stdout.write("telemed stopped.")
        if exit_code:
            sys.exit(exit_code)
