"""`serve` keeps the platform up: a child that dies comes back while the others keep serving,
and /healthz tells a hung worker by its stale heartbeat."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import database_url_for_subprocesses, free_port, platform_process
from telemed.workers.models import Heartbeat, Role

STALE_AFTER = 3


def _health(base_url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except OSError:
        return 0, {}  # nobody listens (the server is starting again)


def _children(supervisor_pid: int) -> dict[str, int]:
    pids = subprocess.run(["pgrep", "-P", str(supervisor_pid)], capture_output=True, text=True).stdout.split()
    found = {}
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_text()
        except FileNotFoundError:
            continue
        for name in ("uvicorn", "task_worker", "reminders_dispatch"):
            if name in command:
                found[name] = int(pid)
    return found


def _all_three(supervisor_pid: int) -> dict[str, int] | None:
    children = _children(supervisor_pid)
    return children if len(children) == 3 else None


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def _newest_beat(role: str):
    return Heartbeat.objects.filter(role=role).order_by("-beat_at").values_list("beat_at", flat=True).first()


@pytest.mark.django_db(transaction=True)
def test_each_child_killed_comes_back_while_the_others_keep_serving(tmp_path):
    env = {
        "DATABASE_URL": database_url_for_subprocesses(), "TELEMED_VAR_DIR": str(tmp_path),
        "TELEMED_HEARTBEAT_INTERVAL": "0.5", "TELEMED_HEARTBEAT_STALE_AFTER": str(STALE_AFTER),
    }  # fmt: skip
    with platform_process(port=free_port(), env=env) as base_url:
        supervisor = int(subprocess.run(["pgrep", "-f", f"serve --port {base_url.rsplit(':', 1)[1]}"],
                                        capture_output=True, text=True).stdout.split()[0])  # fmt: skip
        children = _wait(lambda: _all_three(supervisor), 20, "three children")
        for name, pid in children.items():
            beats = {role: _wait(lambda r=role: _newest_beat(r), 20, f"a beat of {role}") for role in Role.values}
            os.kill(pid, signal.SIGKILL)
            if name != "uvicorn":
                # The web server keeps answering while the other child is down.
                assert _health(base_url)[0] in (200, 503)
            _wait(lambda n=name, old=pid: _children(supervisor).get(n, old) != old, 20, f"{name} back")
            _wait(lambda n=name: _health(base_url)[0] == 200 if n == "uvicorn" else True, 30, "the server back")
            # The workers that were not killed kept beating all along.
            for role, before in beats.items():
                if (role, name) not in ((Role.TASK_WORKER, "task_worker"), (Role.REMINDERS, "reminders_dispatch")):
                    _wait(lambda r=role, b=before: _newest_beat(r) > b, 10, f"{role} still beating")
        # A restarted worker is healthy again once it has beaten.
        _wait(lambda: _health(base_url)[0] == 200, 20, "200 at the end")


@pytest.mark.django_db(transaction=True)
def test_healthz_is_503_while_a_worker_hangs_and_200_once_it_beats_again(tmp_path):
    env = {
        "DATABASE_URL": database_url_for_subprocesses(), "TELEMED_VAR_DIR": str(tmp_path),
        "TELEMED_HEARTBEAT_INTERVAL": "0.5", "TELEMED_HEARTBEAT_STALE_AFTER": str(STALE_AFTER),
    }  # fmt: skip
    with platform_process(port=free_port(), env=env) as base_url:
        supervisor = int(subprocess.run(["pgrep", "-f", f"serve --port {base_url.rsplit(':', 1)[1]}"],
                                        capture_output=True, text=True).stdout.split()[0])  # fmt: skip
        children = _wait(lambda: _all_three(supervisor), 20, "three children")
        for name, component in (("task_worker", "task_worker"), ("reminders_dispatch", "reminder_dispatcher")):
            _wait(lambda c=component: _health(base_url)[1]["components"][c].get("running"), 20, f"{component} beating")
            os.kill(children[name], signal.SIGSTOP)  # alive but hung: no beat
            try:
                status, body = _wait(lambda: (h := _health(base_url))[0] == 503 and h, STALE_AFTER + 10, "503")
                assert body["components"][component]["ok"] is False
            finally:
                os.kill(children[name], signal.SIGCONT)
            _wait(lambda: _health(base_url)[0] == 200, 10, "200 again")


def test_the_pause_before_a_restart_doubles_up_to_a_bound():
    from telemed.portal.management.commands.serve import BACKOFF_MAX_S, backoff

    assert [backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(50) == BACKOFF_MAX_S


@pytest.mark.django_db(transaction=True)
def test_a_child_that_keeps_dying_stops_the_platform_instead_of_looping(tmp_path):
    env = {"DATABASE_URL": database_url_for_subprocesses(), "TELEMED_VAR_DIR": str(tmp_path)}
    with platform_process(port=free_port(), env=env) as base_url:
        supervisor = int(subprocess.run(["pgrep", "-f", f"serve --port {base_url.rsplit(':', 1)[1]}"],
                                        capture_output=True, text=True).stdout.split()[0])  # fmt: skip
        _wait(lambda: _all_three(supervisor), 20, "three children")
        killed = set()
        # Five deaths of the task worker within the window (the restarts wait 0.5, 1, 2, 4 s).
        for _ in range(5):
            pid = _wait(
                lambda: (p := _children(supervisor).get("task_worker")) not in killed and p, 20, "the worker (again)"
            )
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        # The supervisor gives up: it stops every child and exits with an error.
        _wait(lambda: not os.path.exists(f"/proc/{supervisor}") or Path(f"/proc/{supervisor}/stat").read_text().split()[2] == "Z",
              30, "the supervisor gone")  # fmt: skip
        assert _health(base_url)[0] == 0  # nothing listens any more


@pytest.mark.django_db(transaction=True)
def test_granian_killed_with_its_worker_left_behind_comes_back_on_the_same_port(tmp_path):
    # Granian's worker processes outlive a master killed with SIGKILL and keep its port: the
    # supervisor ends the dead child's whole process group before starting it again.
    env = {"DATABASE_URL": database_url_for_subprocesses(), "TELEMED_VAR_DIR": str(tmp_path)}
    with platform_process(port=free_port(), env=env, args=("--server", "granian", "--no-worker")) as base_url:
        supervisor = int(subprocess.run(["pgrep", "-f", f"serve --port {base_url.rsplit(':', 1)[1]}"],
                                        capture_output=True, text=True).stdout.split()[0])  # fmt: skip
        master = _wait(lambda: _granian(supervisor), 20, "Granian started")
        workers = _wait(lambda: subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
                        .stdout.split(), 20, "Granian's worker")  # fmt: skip
        assert _health(base_url)[0] == 200
        os.kill(master, signal.SIGKILL)
        _wait(lambda: (_granian(supervisor) or master) != master, 20, "Granian started again")
        _wait(lambda: _health(base_url)[0] == 200, 30, "the server back")
        assert [pid for pid in workers if Path(f"/proc/{pid}").exists()] == []


def _granian(supervisor_pid: int) -> int | None:
    for pid in subprocess.run(["pgrep", "-P", str(supervisor_pid)], capture_output=True, text=True).stdout.split():
        try:
            if "granian" in Path(f"/proc/{pid}/cmdline").read_text():
                return int(pid)
        except FileNotFoundError:
            continue
    return None
