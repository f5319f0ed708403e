"""Run the whole platform in one command: the ASGI server, the background task worker and
the reminder dispatcher.

All run as child processes of this one. Ctrl-C (SIGINT) or SIGTERM stops them all
cleanly; if one dies, the others are stopped too and the exit code says so.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

GRACE_SECONDS = 10


class Command(BaseCommand):
    help = "Start the ASGI server (uvicorn), the task worker and the reminder dispatcher together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TELEMED_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TELEMED_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=1, help="ASGI worker processes")
        parser.add_argument(
            "--no-worker", action="store_true", help="do not start the task worker nor the reminder dispatcher"
        )

    def handle(self, *args, host, port, workers, no_worker, **options):
        server_cmd = [
            sys.executable, "-m", "uvicorn", settings.ASGI_APPLICATION.replace(".application", ":application"),
            "--host", host, "--port", str(port), "--workers", str(workers), "--no-access-log",
            "--proxy-headers", "--lifespan", "off", "--ws-max-size", str(1024 * 1024),
        ]  # fmt: skip
        worker_cmd = [
            sys.executable, "-m", "django", "db_worker",
            "--interval", str(settings.WORKER_INTERVAL), "--no-startup-delay", "--no-reload",
        ]  # fmt: skip
        dispatcher_cmd = [sys.executable, "-m", "django", "reminders_dispatch"]
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "telemed.settings")}
        children: list[subprocess.Popen] = []
        stopping = False

        def stop(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # Children get their own process group so that the terminal's Ctrl-C reaches
        # only this supervisor, which then stops them in order.
        children.append(subprocess.Popen(server_cmd, env=env, start_new_session=True))
        if not no_worker:
            children.append(subprocess.Popen(worker_cmd, env=env, start_new_session=True))
            children.append(subprocess.Popen(dispatcher_cmd, env=env, start_new_session=True))
        self.stdout.write(f"telemed is running at http://{host}:{port}/  (Ctrl-C to stop)", self.style.SUCCESS)

        exit_code = 0
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    self.stderr.write(f"{' '.join(child.args[2:4])} exited with {child.returncode}; stopping")
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.2)

        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.stdout.write("telemed stopped.")
        if exit_code:
            sys.exit(exit_code)
