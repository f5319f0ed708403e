"""Two running dispatchers (real processes, PostgreSQL): one works, the other stands by; a burst
is delivered exactly once; the active one killed with SIGKILL, the other takes over and the next
burst is delivered exactly once too."""

import os
import pathlib
import subprocess
import sys
import time

import pytest

from conftest import CRASH_TEST_MARKS, ROOT, database_url_for_subprocesses, process_stop
from telemed.notifications.models import Notification
from telemed.reminders.models import Delivery, DeliveryStatus
from telemed.reminders.tests.test_dispatch import _due_reminders, three_patients  # noqa: F401 - a fixture
from telemed.workers.leadership import LeaderLock, lock_key

pytestmark = CRASH_TEST_MARKS

BURST = 60
ACTIVE = "this dispatcher is active"
STANDING_BY = "another dispatcher is active; standing by"


def _running_dispatcher(log: pathlib.Path) -> subprocess.Popen:
    env = {
        **os.environ, "DATABASE_URL": database_url_for_subprocesses(), "DATABASE_POOL": "false",
        "PYTHONUNBUFFERED": "1", "TELEMED_HEARTBEAT_INTERVAL": "0.5",
    }  # fmt: skip
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", "reminders_dispatch", "--max-sleep", "0.2", "--send-batch", "7"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _wait(condition, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _delivered_exactly_once(reminders, patients) -> bool:
    deliveries = Delivery.objects.filter(reminder__in=reminders)
    if deliveries.filter(status=DeliveryStatus.SENT).count() < len(reminders):
        return False
    assert deliveries.count() == len(reminders)
    notifications = Notification.objects.filter(recipient__in=patients, kind="reminder").count()
    return notifications >= len(reminders)


def test_one_dispatcher_works_the_other_stands_by_and_takes_over_when_it_dies(three_patients, tmp_path):  # noqa: F811
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    dispatchers = [_running_dispatcher(logs[0])]
    try:
        _wait(lambda: ACTIVE in logs[0].read_text(), "the first dispatcher never became active")
        dispatchers.append(_running_dispatcher(logs[1]))
        _wait(lambda: STANDING_BY in logs[1].read_text(), "the second dispatcher never stood by")

        first_burst = _due_reminders(three_patients, BURST)
        _wait(lambda: _delivered_exactly_once(first_burst, three_patients), "the first burst was not delivered")
        assert Notification.objects.filter(recipient__in=three_patients, kind="reminder").count() == BURST
        assert ACTIVE not in logs[1].read_text()  # it stood by all along

        dispatchers[0].kill()  # SIGKILL: no clean release; the server ends its session, and the lock
        dispatchers[0].wait(timeout=30)
        _wait(lambda: ACTIVE in logs[1].read_text(), "the standby never took over")
        second_burst = _due_reminders(three_patients, BURST)
        _wait(lambda: _delivered_exactly_once(second_burst, three_patients), "the second burst was not delivered")
        assert Notification.objects.filter(recipient__in=three_patients, kind="reminder").count() == 2 * BURST
        assert Delivery.objects.count() == 2 * BURST
    finally:
        for dispatcher in dispatchers:
            process_stop(dispatcher)


def test_the_lock_is_held_by_one_session_and_freed_by_a_clean_release():
    first, second = LeaderLock("telemed.test.role"), LeaderLock("telemed.test.role")
    other_role = LeaderLock("telemed.test.other-role")
    try:
        assert first.acquire() and first.acquire()  # held, and still held
        assert not second.acquire()
        assert other_role.acquire()
        first.release()
        assert second.acquire()
    finally:
        for lock in (first, second, other_role):
            lock.release()
    assert lock_key("telemed.reminders.dispatcher") == lock_key("telemed.reminders.dispatcher")


@pytest.mark.parametrize("name", ["a", "telemed.reminders.dispatcher"])
def test_lock_keys_are_signed_64_bit(name):
    assert -(2**63) <= lock_key(name) < 2**63
