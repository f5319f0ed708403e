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
3. the baseline: ``cp`` of the same file on the same file system, timed until the copy is on
   the disk (cp, then fdatasync of the copy): the upload answers its last chunk only once its
   file is on the disk (telemed/lib/durable.py), so both are timed to the same point. cp's own
   time, its copy still in the page cache (a 1.5 GB file fits in this machine's memory many
   times over), is printed too, as ``cp_cached_mb_per_s``. Each timed phase starts with
   nothing else waiting to be written (``sync`` before it), so that neither pays for the
   other's writes;
4. starts the real platform (``manage.py serve --no-worker``: uvicorn and the ASGI
   application) on a free loopback port, against the scratch database;
5. uploads the file with the page's protocol: ``POST /box/uploads/``, then
   ``PATCH`` chunks with ``Upload-Offset``, each streamed from the file in 1 MB blocks,
   until the last one answers 201. The chunks are sized as the page sizes them
   (boxes/static/boxes/upload.js): the first of ``--chunk-mb`` MB, doubled after one that
   took under 1.5 s, up to ``--chunk-max-mb``; the time runs from the
   POST to that answer, so it includes the type check and the move into storage;
   then checks that the stored BLAKE3 digest is the file's;
6. prints MB/s against ``cp``'s, and the server's peak resident memory (VmHWM of
   the uvicorn process, from /proc) before and after the upload, and ends with
   ``RESULT upload mb_per_s=… cp_mb_per_s=… ratio=… peak_rss_mb=… cp_cached_mb_per_s=… ratio_cached=…``.

All traffic goes to 127.0.0.1. What to expect: memory flat (the peak does not grow
with the file). Speed: each chunk's body reaches the view as it arrives
(telemed/streaming.py: no spooled copy by Django) and is written once, into the part
file, while the BLAKE3 digest runs over it (boxes/digests.py: no second pass at
completion), and handed to the disk at once; the completion only sniffs the type, waits for
the last bytes to reach the disk and moves the part file into place.
"""

import argparse
import os
import subprocess
import time
import zipfile
from pathlib import Path

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
)

MB = 1024 * 1024
BLOCK = MB
TIMEOUT_SECONDS = 900


def write_zip(path: Path, size: int) -> str:
    """A stored (uncompressed) ZIP of about ``size`` bytes of incompressible content; returns its BLAKE3 digest."""
    block = os.urandom(16 * MB)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("DICOM/IM000001", "w", force_zip64=True) as member:
            written = 0
            while written < size - 4096:
                piece = block[: min(len(block), size - 4096 - written)]
                member.write(piece)
                written += len(piece)
    import blake3

    digest = blake3.blake3()
    with open(path, "rb") as stream:
        while data := stream.read(8 * MB):
            digest.update(data)
    return digest.hexdigest()


def settle_disk_and_cache(path: Path) -> None:
    """Before a timed phase: nothing left waiting to be written, and the source's pages in the
    page cache, so that cp and the upload both read it from memory and write on an idle disk."""
    os.sync()
    with open(path, "rb") as stream:
        while stream.read(8 * MB):
            pass


def time_cp(source: Path, target: Path) -> tuple[float, float]:
    """Seconds until cp returns (its copy in the page cache), and until the copy is on the disk."""
    started = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    copied = time.perf_counter() - started
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)
    on_disk = time.perf_counter() - started
    target.unlink()
    return copied, on_disk


class UploadClient(Client):
    """The patient's browser, with the page's way of sending a chunk."""

    def patch_chunk(self, url: str, token: str, source, offset: int, length: int):
        """Stream ``length`` bytes of ``source`` from ``offset`` as one PATCH, in 1 MB blocks."""
        self.conn.putrequest("PATCH", url)
        for name, value in {
            "Cookie": self.cookie_header(), "X-CSRFToken": token, "Upload-Offset": str(offset),
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


def next_chunk_size(size: int, took: float, first: int, largest: int) -> int:
    """The page's rule (upload.js ``nextChunkSize``): double under 1.5 s, halve over 6 s."""
    if took < 1.5:
        return min(largest, size * 2)
    if took > 6:
        return max(first, size // 2)
    return size


def upload(client: UploadClient, path: Path, first_chunk: int, largest_chunk: int) -> tuple[float, dict]:
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
    offset, chunk, sizes = 0, first_chunk, []
    with open(path, "rb") as source:
        while offset < size:
            length = min(chunk, size - offset)
            sent_at = time.perf_counter()
            response, body = client.patch_chunk(url, token, source, offset, length)
            last_patch = time.perf_counter() - sent_at
            if response.status not in (201, 204):
                fail(f"PATCH at {offset} answered {response.status}: {body[:300]!r}")
            offset = int(response.getheader("Upload-Offset"))
            sizes.append(length)
            chunk = next_chunk_size(chunk, last_patch, first_chunk, largest_chunk)
    elapsed = time.perf_counter() - started
    if response.status != 201:
        fail("the last chunk did not complete the upload")
    # The last PATCH includes the completion: type check and the move into storage.
    return elapsed, {**json.loads(body), "last_patch_seconds": last_patch, "chunk_sizes": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=1536, help="size of the file (default 1536 = 1.5 GB)")
    parser.add_argument("--chunk-mb", type=int, default=8, help="size of the first PATCH (default 8, as the page)")
    parser.add_argument("--chunk-max-mb", type=int, default=64, help="the largest PATCH (default 64, as the page)")
    args = parser.parse_args()
    size, chunk, largest = args.size_mb * MB, args.chunk_mb * MB, max(args.chunk_max_mb, args.chunk_mb) * MB

    with scratch_platform() as (var_dir, database_url):
        print(f"database: {database_url.split('@')[-1]}; files under {var_dir}")
        setup_django_on_scratch(var_dir, database_url)
        session_key = patient_session(extra_bytes=2 * 1024**3)

        source = var_dir / "cd-radiologia.zip"
        print(f"writing a {args.size_mb} MB ZIP…", flush=True)
        expected_digest = write_zip(source, size)
        real_size = source.stat().st_size
        settle_disk_and_cache(source)
        cached_seconds, cp_seconds = time_cp(source, var_dir / "copy.zip")
        cp_mb_per_s, cp_cached_mb_per_s = real_size / MB / cp_seconds, real_size / MB / cached_seconds
        print(
            f"cp: {real_size / MB:.0f} MB on the disk in {cp_seconds:.2f} s = {cp_mb_per_s:.0f} MB/s "
            f"(cp alone, into the page cache: {cached_seconds:.2f} s = {cp_cached_mb_per_s:.0f} MB/s)"
        )

        port = free_port()
        log = open(var_dir / "serve.log", "w+")  # noqa: SIM115 - read on failure, removed with the folder
        server = start_platform(port, "--no-worker", log=log)
        try:
            pids = server_processes(server.pid)
            client = UploadClient(port, session_key)
            client.csrf_token()  # warm up: imports, templates, the first connection
            idle_rss = peak_rss_mb(pids)

            settle_disk_and_cache(source)
            deadline = time.monotonic() + TIMEOUT_SECONDS
            elapsed, answer = upload(client, source, chunk, largest)
            if time.monotonic() > deadline:
                fail("the upload took longer than the benchmark allows")
            peak = peak_rss_mb(pids)
        finally:
            stop_processes(server)

        from telemed.boxes.models import Document

        document = Document.objects.get(pk=int(answer["document_url"].rstrip("/").rsplit("/", 1)[-1]))
        if document.digest != expected_digest or document.size != real_size:
            fail("the stored file is not the one sent")
        mb_per_s = real_size / MB / elapsed
        ratio, ratio_cached = mb_per_s / cp_mb_per_s, mb_per_s / cp_cached_mb_per_s
        sizes = answer["chunk_sizes"]
        print(f"upload: {real_size / MB:.0f} MB in {elapsed:.2f} s = {mb_per_s:.0f} MB/s over HTTP, {len(sizes)} chunks "
              f"of {sizes[0] // MB} to {max(sizes) // MB} MB, BLAKE3 checked ({document.mime})")  # fmt: skip
        print(
            "of which the last chunk and the completion (type check, the last bytes to the disk, move into storage): "
            f"{answer['last_patch_seconds']:.2f} s"
        )
        print(
            f"baseline cp until on the disk: {cp_mb_per_s:.0f} MB/s; ratio {ratio:.2f} "
            f"(cp into the page cache: {cp_cached_mb_per_s:.0f} MB/s; ratio {ratio_cached:.2f})"
        )
        print(
            f"server peak RSS (VmHWM of {asgi_server()}, pid {pids}): {idle_rss:.0f} MB after warm-up, {peak:.0f} MB after the upload"
        )
        print(
            f"RESULT upload mb_per_s={mb_per_s:.1f} cp_mb_per_s={cp_mb_per_s:.1f} ratio={ratio:.3f} peak_rss_mb={peak:.1f} "
            f"cp_cached_mb_per_s={cp_cached_mb_per_s:.1f} ratio_cached={ratio_cached:.3f} server={asgi_server()}"
        )


if __name__ == "__main__":
    main()
