"""A real task worker killed with SIGKILL at random points of a CD import, again and again: the
import still ends with exactly the CD's images, and the quota counts exactly their files."""

import os
import random
import time

from conftest import CRASH_TEST_MARKS, database_url_for_subprocesses, process_stop, task_worker_process
from telemed.dicom.models import CdImport, ImportState, Instance
from telemed.dicom.tests.conftest import leftovers, storage_files, with_new_uids
from telemed.dicom.tests.test_import import assert_quota_exact

pytestmark = CRASH_TEST_MARKS

IMAGES = 240
KILLS = 3


def test_a_cd_import_survives_its_worker_killed_at_random_points(importer, patient, dicom_files):
    started = importer.start().json()
    for n in range(IMAGES):
        assert (
            importer.send_file(started["files_url"], f"CD/DICOM/IM{n:05d}", with_new_uids("CT_small.dcm")).status_code
            == 200
        )
    assert importer.finish(started["finish_url"]).status_code == 202
    cd_import = CdImport.objects.get(pk=started["id"])
    env = {
        **os.environ, "DATABASE_URL": database_url_for_subprocesses(), "DATABASE_POOL": "false",
        "TELEMED_VAR_DIR": str(dicom_files), "TELEMED_HEARTBEAT_INTERVAL": "0.2",
        "TELEMED_HEARTBEAT_STALE_AFTER": "1", "TELEMED_TASK_MAX_ATTEMPTS": str(KILLS + 2),
    }  # fmt: skip
    kills = 0
    worker = None
    try:
        deadline = time.monotonic() + 50
        while True:
            cd_import.refresh_from_db()
            if cd_import.state in (ImportState.DONE, ImportState.FAILED):
                break
            assert time.monotonic() < deadline, (cd_import.state, cd_import.imported_count)
            if worker is None or worker.poll() is not None:
                worker = task_worker_process(env)
            if kills < KILLS and cd_import.state == ImportState.RUNNING:
                time.sleep(random.uniform(0.05, 0.4))  # somewhere in the import
                worker.kill()
                worker.wait()
                kills += 1
                worker = None
                continue
            time.sleep(0.05)
    finally:
        process_stop(worker)
    cd_import.refresh_from_db()
    # At least one kill landed while the import was running. On a quiet machine a restarted worker
    # may finish the whole CD before the next kill point comes: fewer kills, the same proof.
    assert 1 <= kills <= KILLS
    assert cd_import.state == ImportState.DONE, cd_import.error
    assert (cd_import.imported_count, cd_import.skipped_count, cd_import.reserved_bytes) == (IMAGES, 0, 0)
    assert Instance.objects.count() == IMAGES and len(storage_files(dicom_files)) == IMAGES
    assert_quota_exact(patient)
    assert leftovers(dicom_files) == []
