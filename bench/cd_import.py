"""Benchmark of a radiology CD import, through the real server, against Orthanc.

    make bench NAME=cd_import
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/telemed_bench_cd make bench NAME=cd_import

What it does, in one run (a few minutes):

1. builds a CD-like folder of ``--instances`` DICOM files (default 1,040, about 545 MB)
   from pydicom's bundled CT_small.dcm: its 128×128 slice scaled up to 512×512 (the
   matrix of a real CT), a new SOP Instance UID for each file, four series of one study;
2. makes a scratch var dir and database (SQLite, or the PostgreSQL of DATABASE_URL if
   its name contains "bench": dropped and created again), a patient with 2 GB more
   space, and starts the real platform (``manage.py serve``: uvicorn and the task
   worker) on a free loopback port;
3. telemed: the path a patient's browser takes — ``POST /dicom/imports/``, the files
   packed whole into batches of at most 16 MB (as static/dicom/import.js does:
   ``<size> <path>\n`` and the bytes, file after file, read from the disk as the request
   is sent) posted to ``batch_url`` by 4 parallel uploaders (the page uses 3),
   ``finish``, then the task worker reads and stores the CD; the time runs from the
   first request until the import is done (so it includes the upload, the header
   parsing, the SHA-256 of every file, the moves into storage and the database rows);
   checks that every instance was stored and that the quota counts exactly their bytes;
   each stored file is on the disk before its row (telemed/lib/durable.py), as Orthanc's are
   (``SyncStorageArea``, on by default), and each timed phase starts after a ``sync``, so that
   neither pays for the writes the phases before it left behind;
   The server runs one uvicorn process per core on PostgreSQL (``--web-processes``), as a
   deployment does (``TELEMED_WEB_WORKERS``) and as the pages and messaging benchmarks run
   it: Orthanc takes the CD on every core with its threads, and so does telemed with its
   processes; on SQLite one (its in-memory channel layer lives in one process);
4. the baseline: Orthanc (Debian package ``orthanc``; installed with apt-get when run as
   root, else the command to run is printed) started with a scratch storage and index,
   HTTP only, remote access off; the same files posted to ``POST /instances`` by 4
   parallel uploaders; the time runs until the last answer;
5. the browser's path: another patient imports the same CD through the page itself, in
   Debian's Chromium driven by Playwright (the folder chosen in the form, "Import", the
   page's own JavaScript packing the batches — 3 at a time — until the report says done);
   the time runs from the click to the report (``browser_s``);
6. prints instances/s and MB/s for both, the peak resident memory (VmHWM) of the
   uvicorn process and of the task worker, and ends with
   ``RESULT cd_import instances=… mb=… instances_per_s=… mb_per_s=… peak_rss_mb=… orthanc_instances_per_s=… ratio=… browser_s=… web_processes=…``
   (``peak_rss_mb`` is the larger of the two telemed processes over both imports; ``ratio``
   is telemed's instances/s over Orthanc's, on the HTTP path of step 3).

All traffic goes to 127.0.0.1; every wait is bounded. Target: faster than Orthanc, peak
memory under 300 MB.
"""

import argparse
import http.client
import json
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from harness import (
    Client,
    asgi_server,
    fail,
    free_port,
    patient_session,
    peak_rss_mb,
    scratch_platform,
    server_processes,
    setup_django_on_scratch,
    start_platform,
    stop_processes,
    wait_until_serving,
)

MB = 1024 * 1024
UPLOADERS = 4
TIMEOUT_SECONDS = 900
ORTHANC = "/usr/sbin/Orthanc"
CHROMIUM = "/usr/bin/chromium"


def build_cd(folder: Path, count: int) -> tuple[list[Path], int]:
    """``count`` CT instances of 512×512 from the bundled CT_small.dcm, varied UIDs, four series."""
    import numpy as np
    import pydicom
    from pydicom.uid import generate_uid

    source = pydicom.dcmread(Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm")
    big = np.kron(source.pixel_array, np.ones((4, 4), dtype=source.pixel_array.dtype))
    source.Rows, source.Columns = big.shape
    source.PixelData = big.tobytes()
    study_uid = generate_uid()
    series_uids = [generate_uid() for _ in range(4)]
    paths = []
    for n in range(count):
        series = n % 4
        source.StudyInstanceUID = study_uid
        source.SeriesInstanceUID = series_uids[series]
        source.SeriesNumber = series + 1
        source.InstanceNumber = n // 4 + 1
        source.SOPInstanceUID = generate_uid()
        source.file_meta.MediaStorageSOPInstanceUID = source.SOPInstanceUID
        source.ImagePositionPatient = [0, 0, float(n // 4)]
        path = folder / "DICOM" / f"S{series + 1:02d}" / f"IM{n:06d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        source.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths, sum(path.stat().st_size for path in paths)


def batches_of(paths: list[Path], limit: int = 16 * MB, most: int = 256) -> list[list[Path]]:
    """The page's batches: whole files, at most ``limit`` bytes or ``most`` files each."""
    batches, batch, size = [], [], 0
    for path in paths:
        length = path.stat().st_size
        if batch and (size + length > limit or len(batch) >= most):
            batches.append(batch)
            batch, size = [], 0
        batch.append(path)
        size += length
    return batches + ([batch] if batch else [])


def parallel(paths: list, send) -> None:
    """Send every file with UPLOADERS threads; the first failure stops the benchmark."""
    queue = list(reversed(paths))
    lock = threading.Lock()
    errors: list[str] = []

    def worker():
        state = {}
        while True:
            with lock:
                if not queue or errors:
                    return
                path = queue.pop()
            try:
                send(path, state)
            except Exception as error:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(f"{path.name}: {error}")

    threads = [threading.Thread(target=worker) for _ in range(UPLOADERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_SECONDS)
    if errors:
        fail(errors[0])


def telemed_import(port: int, session_key: str, cd: Path, paths: list[Path]) -> tuple[float, str]:
    main = Client(port, session_key)
    token = main.csrf_token()
    origin = {"Origin": f"http://127.0.0.1:{port}", "Referer": f"http://127.0.0.1:{port}/dicom/import/"}
    os.sync()  # nothing of the CD's building left waiting to be written
    started = time.perf_counter()
    response, body = main.request(
        "POST", "/dicom/imports/", body="folder=",
        headers={"X-CSRFToken": token, "Content-Type": "application/x-www-form-urlencoded", **origin},
    )  # fmt: skip
    if response.status != 201:
        fail(f"POST /dicom/imports/ answered {response.status}: {body[:300]!r}")
    urls = json.loads(body)
    state_cookies = dict(main.cookies)

    def send(batch: list[Path], state: dict):
        if "client" not in state:
            state["client"] = Client(port, session_key)
            state["client"].cookies = dict(main.cookies)
        headers = [f"{path.stat().st_size} {quote('CD/' + str(path.relative_to(cd)))}\n".encode() for path in batch]
        length = sum(len(header) + path.stat().st_size for header, path in zip(headers, batch, strict=True))

        def body():  # read from the disk as the request goes, like the page's Blob of files
            for header, path in zip(headers, batch, strict=True):
                yield header
                with open(path, "rb") as stream:
                    while block := stream.read(MB):
                        yield block

        answer, text = state["client"].request(
            "POST", urls["batch_url"], body=body(),
            headers={"X-CSRFToken": token, "Content-Type": "application/octet-stream", "Content-Length": str(length), **origin},
        )  # fmt: skip
        if answer.status != 200:
            raise RuntimeError(f"answered {answer.status}: {text[:200]!r}")
        refused = [f for f in json.loads(text)["files"] if f["received"] != f["size"]]
        if refused:
            raise RuntimeError(f"refused: {refused[:3]}")

    parallel(batches_of(paths), send)
    uploaded = time.perf_counter() - started
    print(f"telemed: all files received in {uploaded:.2f} s", flush=True)
    main = Client(port, session_key)  # the first connection went idle while the uploaders worked
    main.cookies = dict(state_cookies)
    finish_sent_at = time.time()
    response, body = main.request("POST", urls["finish_url"], headers={"X-CSRFToken": token, **origin})
    if response.status != 202:
        fail(f"finish answered {response.status}: {body[:300]!r}")
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        response, body = main.request("GET", urls["report_url"], headers={"Accept": "application/json"})
        status = json.loads(body)
        if status["finished"]:
            break
        time.sleep(0.1)
    else:
        fail("the import did not finish in time")
    seen_done_at = time.time()
    after_last_byte(urls["id"], finish_sent_at, seen_done_at)
    return time.perf_counter() - started, urls["id"]


def after_last_byte(import_id: str, finish_sent_at: float, seen_done_at: float) -> None:
    """Where the time after the last byte went: the task's wait for a worker, its run, the poll."""
    from django_tasks_db.models import DBTaskResult

    task = DBTaskResult.objects.filter(
        task_path__endswith="cd_import_run", args_kwargs__kwargs__import_id=import_id
    ).get()
    waited = task.started_at.timestamp() - finish_sent_at
    ran = task.finished_at.timestamp() - task.started_at.timestamp()
    print(
        f"after the last byte: {seen_done_at - finish_sent_at:.2f} s — finish to the task's start {waited:.2f} s, "
        f"the task {ran:.2f} s, the rest (answers, the client's poll every 0.1 s) "
        f"{seen_done_at - task.finished_at.timestamp():.2f} s"
    )


def browser_import(port: int, session_key: str, cd: Path) -> float:
    """The same CD imported by the page in Chromium; seconds from the click on "Import" to the report."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        fail("Chromium is missing: run `make chromium` and start the benchmark again.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            context = browser.new_context(locale="en-GB")
            context.add_cookies([{"name": "sessionid", "value": session_key, "url": f"http://127.0.0.1:{port}/"}])
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/dicom/import/")
            page.locator('input[name="cd_folder"]').set_input_files(str(cd))
            started = time.perf_counter()
            page.locator('[data-testid="cd-import-submit"]').click()
            page.wait_for_url("**/dicom/imports/*/", timeout=TIMEOUT_SECONDS * 1000)
            page.locator('[data-testid="import-report"][data-state="done"]').wait_for(timeout=TIMEOUT_SECONDS * 1000)
            return time.perf_counter() - started
        finally:
            browser.close()


def ensure_orthanc() -> None:
    if os.path.exists(ORTHANC):
        return
    if os.geteuid() != 0:
        fail("Orthanc is missing: run `sudo apt-get install -y orthanc` and start the benchmark again.")
    print("installing Orthanc (apt-get install -y orthanc)…", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "orthanc"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def orthanc_import(work: Path, paths: list[Path]) -> tuple[float, int, float]:
    port = free_port()
    config = {
        "Name": "telemed-bench", "StorageDirectory": str(work / "storage"), "IndexDirectory": str(work / "index"),
        "HttpPort": port, "DicomServerEnabled": False, "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "Plugins": [], "HttpServerEnabled": True, "StorageCompression": False, "ConcurrentJobs": 2,
        "HttpThreadsCount": 50,
    }  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    (work / "orthanc.json").write_text(json.dumps(config))
    log = open(work / "orthanc.log", "w+")  # noqa: SIM115 - removed with the folder
    process = subprocess.Popen([ORTHANC, str(work / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/system", process, "Orthanc", log=log)

        def send(path: Path, state: dict):
            if "conn" not in state:
                state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            state["conn"].request(
                "POST", "/instances", body=path.read_bytes(), headers={"Content-Type": "application/dicom"}
            )
            answer = state["conn"].getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"Orthanc answered {answer.status}")

        os.sync()  # nor of telemed's two imports: Orthanc flushes each file it stores, as telemed does
        started = time.perf_counter()
        parallel(paths, send)
        elapsed = time.perf_counter() - started
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/statistics", timeout=10) as response:
            stored = json.loads(response.read())["CountInstances"]
        return elapsed, stored, peak_rss_mb([process.pid])
    finally:
        stop_processes(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1040, help="instances on the CD (default 1040, about 545 MB)")
    parser.add_argument(
        "--web-processes",
        type=int,
        default=0,
        help="uvicorn processes (default: one per core on PostgreSQL, as deployed and as the pages and "
        "messaging benchmarks run it; one on SQLite, whose in-memory channel layer lives in one process)",
    )
    args = parser.parse_args()
    ensure_orthanc()
    with scratch_platform() as (var_dir, database_url):
        cd = var_dir / "CD"
        print(f"building a CD of {args.instances} CT instances…", flush=True)
        paths, total = build_cd(cd, args.instances)
        mb = total / MB
        print(f"CD: {len(paths)} instances, {mb:.0f} MB")

        print(f"database: {database_url.split('@')[-1]}; files under {var_dir}")
        (var_dir / "telemed").mkdir()
        setup_django_on_scratch(var_dir / "telemed", database_url)
        session_key = patient_session(extra_bytes=2 * 1024**3)
        browser_session_key = patient_session(extra_bytes=2 * 1024**3, number=2)
        port = free_port()
        log = open(var_dir / "serve.log", "w+")  # noqa: SIM115 - removed with the folder
        web = args.web_processes or (os.cpu_count() or 1 if database_url.startswith("postgres") else 1)
        print(f"server: manage.py serve --workers {web} ({asgi_server()}) and its task worker")
        server = start_platform(port, "--workers", str(web), log=log, env={"TELEMED_WORKER_INTERVAL": "0.2"})
        try:
            pids = server_processes(server.pid)
            elapsed, import_id = telemed_import(port, session_key, cd, paths)
            print("the browser's path: the same CD through the page, in Chromium…", flush=True)
            browser_s = browser_import(port, browser_session_key, cd)
            print(f"browser: {len(paths)} instances in {browser_s:.2f} s (the page's JavaScript, 3 batches at a time)")
            peaks = {pid: peak_rss_mb([pid]) for pid in pids}
        finally:
            stop_processes(server)

        from telemed.boxes.models import Box
        from telemed.dicom.models import CdImport, Instance

        cd_import = CdImport.objects.get(pk=import_id)
        box = cd_import.box
        box.refresh_from_db()
        stored = sum(Instance.objects.filter(box=box).values_list("size", flat=True))
        if cd_import.state != "done" or cd_import.imported_count != len(paths):
            log.seek(0)
            fail(f"the import ended {cd_import.state} with {cd_import.imported_count} instances:\n{log.read()[-3000:]}")
        if (box.used_bytes, box.reserved_bytes) != (stored, 0) or stored != total:
            fail(
                f"the quota is not exact: used {box.used_bytes}, reserved {box.reserved_bytes}, stored {stored} of {total}"
            )
        by_browser = CdImport.objects.exclude(pk=import_id).get()
        if by_browser.state != "done" or by_browser.imported_count != len(paths):
            fail(f"the browser's import ended {by_browser.state} with {by_browser.imported_count} instances")
        del Box
        instances_per_s, mb_per_s = len(paths) / elapsed, mb / elapsed
        peak = max(peaks.values()) if peaks else float("nan")
        print(f"telemed: {len(paths)} instances, {mb:.0f} MB in {elapsed:.2f} s = {instances_per_s:.0f} instances/s, "
              f"{mb_per_s:.0f} MB/s (HTTP upload by {UPLOADERS} uploaders + the task worker's import, quota exact)")  # fmt: skip
        print(
            "peak RSS: "
            + ", ".join(f"pid {pid} {value:.0f} MB" for pid, value in peaks.items())
            + f" ({asgi_server()}, task worker)"
        )

        orthanc_seconds, orthanc_stored, orthanc_peak = orthanc_import(var_dir / "orthanc", paths)
        if orthanc_stored != len(paths):
            fail(f"Orthanc stored {orthanc_stored} of {len(paths)} instances")
        orthanc_rate = len(paths) / orthanc_seconds
        ratio = instances_per_s / orthanc_rate
        print(f"Orthanc: {len(paths)} instances in {orthanc_seconds:.2f} s = {orthanc_rate:.0f} instances/s, "
              f"{mb / orthanc_seconds:.0f} MB/s ({UPLOADERS} uploaders, POST /instances; its peak RSS {orthanc_peak:.0f} MB)")  # fmt: skip
        print(f"ratio (telemed / Orthanc, instances per second): {ratio:.2f}")
        print(
            f"RESULT cd_import instances={len(paths)} mb={mb:.1f} instances_per_s={instances_per_s:.1f} mb_per_s={mb_per_s:.1f} "
            f"peak_rss_mb={peak:.1f} orthanc_instances_per_s={orthanc_rate:.1f} ratio={ratio:.3f} browser_s={browser_s:.2f} "
            f"server={asgi_server()} web_processes={web}"
        )


if __name__ == "__main__":
    main()
