"""A payout batch run in a real process killed with SIGKILL at random points, again and again,
then run to the end: one file, each payee in it once, each euro paid out once."""

import os
import random
import subprocess
import sys
import time

from conftest import CRASH_TEST_MARKS, ROOT, database_url_for_subprocesses
from telemed.billing import ledger, selectors
from telemed.billing.models import PayoutBatch, PayoutLine
from telemed.billing.tests.test_payouts import paid

pytestmark = CRASH_TEST_MARKS

KILLS = 3
RUN = (
    "import datetime; from django.utils import timezone; from telemed.accounts.models import User; "
    "from telemed.billing import payouts; "
    "payouts.payout_batch_run(actor=User.objects.get(pk={staff}), cutoff=timezone.now() + datetime.timedelta(minutes=5))"
)


def _run(staff_pk: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", RUN.format(staff=staff_pk)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_a_payout_batch_killed_at_random_points_pays_each_payee_once(
    doctor, make_doctor, patient, billed, staff, tmp_path
):
    other = make_doctor("Carla", "Neri")
    paid(doctor, patient, billed, staff, fee="80.00")
    paid(other, patient, billed, staff)
    env = {**os.environ, "DATABASE_URL": database_url_for_subprocesses(), "DATABASE_POOL": "false",
           "TELEMED_VAR_DIR": str(tmp_path)}  # fmt: skip
    for _ in range(KILLS):
        process = _run(staff.pk, env)
        time.sleep(random.uniform(0.5, 3.0))  # while Django starts, inside the batch, or after it
        process.kill()
        process.communicate(timeout=30)
    last = _run(staff.pk, env)
    output = last.communicate(timeout=60)[0]
    # Either this run made the batch, or a killed one had committed it whole: nothing left to pay.
    assert last.returncode == 0 or "BillingError" in output, output
    batch = PayoutBatch.objects.get()
    lines = PayoutLine.objects.filter(batch=batch)
    assert sorted(line.doctor_id for line in lines) == sorted([doctor.pk, other.pk])
    assert batch.xml.count("<CdtTrfTxInf>") == 2
    assert selectors.held_for_doctor(doctor) == selectors.held_for_doctor(other) == 0
    assert ledger.totals().doctor_payouts == batch.total
