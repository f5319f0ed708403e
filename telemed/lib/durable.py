"""A file on the local disk is on the disk before a row says it is stored.

Rules and decisions:
- A write returns once the bytes are in the kernel's page cache; a power cut or a kernel panic in
  the next half minute loses them, while the database row that names the file, committed
  meanwhile, survives (PostgreSQL syncs each commit; SQLite in WAL mode with synchronous=NORMAL
  may lose its last commits, but one it kept may name the file all the same). A document would
  then name an empty or truncated file. So a file is flushed (``flush``: fdatasync) before the
  transaction that records it, and the folder it was renamed or linked into is flushed
  (``flush_directory``) so that its new name survives too. Orthanc does the same for each
  DICOM file it stores (``SyncStorageArea``, on by default).
- Flushing a large file at the end would stall the request that completes it for as long as
  the disk takes to write it all (1.5 GB at 400 MB/s: four seconds). So the bytes are handed to
  the disk as they arrive (``start_writeback``, after each chunk): the disk writes while the
  network receives, and the final flush finds little left to write. On Linux
  ``posix_fadvise(POSIX_FADV_DONTNEED)`` starts the write-back of the range without waiting for
  it, as PostgreSQL's ``pg_flush_data`` does where ``sync_file_range`` is missing; the pages
  written then leave the page cache, so a 1.5 GB upload does not push out what other requests
  read. Where it is missing, nothing starts early and the final flush does the work.
- Object storage needs none of this: a bucket answers a write once it is durable.
"""

import os
from pathlib import Path


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes from ``offset`` to the disk, now."""
    if length > 0 and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def flush(fd: int) -> None:
    """Return once the file's bytes (and its size) are on the disk."""
    # fdatasync skips the times, which reading the file back does not need; macOS has only fsync.
    getattr(os, "fdatasync", os.fsync)(fd)


def flush_file(path: Path | str) -> None:
    """``flush`` of the file at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        flush(fd)
    finally:
        os.close(fd)


def flush_directory(path: Path | str) -> None:
    """Return once the names in the folder ``path`` (a file renamed or linked into it) are on the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
