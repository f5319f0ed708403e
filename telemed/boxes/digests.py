"""The digest that guards a document's bytes, computed as they are written: no second pass.

Rules and decisions:
- The algorithm is BLAKE3 (the maintained ``blake3`` package). It runs several times faster
  than SHA-256 on the same core (SIMD, a tree of chunks), so hashing as bytes arrive does not
  set the speed of an upload; SHA-256 did (a few hundred MB/s per core). Its 256-bit output is
  as strong a guard. Documents stored before BLAKE3 keep their SHA-256 (``digest_algorithm``).
- An upload's digest runs across its chunks. It lives in the memory of the process that wrote
  the last chunk, under the upload and the offset it has reached. A chunk that finds none at its
  offset (another web process took it, or the server restarted) rebuilds it from the part file
  up to that offset: always right, and quick in the usual case of one process.
- With object storage an upload's parts are in the bucket, which cannot be read before the
  upload completes: a chunk that finds no digest at its offset goes on without one, and the
  completed object is read back once to compute it (uploads.py).
- A chunk that fails feeds a digest that is then thrown away: the part file is cut back to where
  it was, and the next chunk rebuilds the digest from the file.
- At most ``KEPT`` running digests are kept (a few hundred bytes each); the oldest go first, and
  an upload whose digest went is only rebuilt, never wrong.
"""

import collections
import os
import threading

import blake3

ALGORITHM = "blake3"
KEPT = 1024
BLOCK = 1024 * 1024

_lock = threading.Lock()
_running: "collections.OrderedDict[str, tuple[int, blake3.blake3]]" = collections.OrderedDict()


def new(data: bytes = b"") -> blake3.blake3:
    return blake3.blake3(data)


def running_at(upload_id, offset: int, fd: int) -> blake3.blake3:
    """The upload's digest of its first ``offset`` bytes, taken out of the kept ones (or rebuilt
    from the part file ``fd``); give it back with ``keep`` once the chunk is in."""
    digest = kept_at(upload_id, offset)
    if digest is not None:
        return digest
    digest, position = new(), 0
    while position < offset:
        block = os.pread(fd, min(BLOCK, offset - position), position)
        if not block:
            break
        digest.update(block)
        position += len(block)
    return digest


def kept_at(upload_id, offset: int) -> blake3.blake3 | None:
    """The upload's digest of its first ``offset`` bytes if this process kept it (a new one at 0),
    taken out of the kept ones; None when another process wrote the last chunk."""
    with _lock:
        entry = _running.pop(str(upload_id), None)
    if offset == 0:
        return new()
    return entry[1] if entry is not None and entry[0] == offset else None


def keep(upload_id, offset: int, digest: blake3.blake3) -> None:
    with _lock:
        _running[str(upload_id)] = (offset, digest)
        _running.move_to_end(str(upload_id))
        while len(_running) > KEPT:
            _running.popitem(last=False)


def forget(upload_id) -> None:
    with _lock:
        _running.pop(str(upload_id), None)


def of_file(path) -> str:
    """The digest of a whole file (one the import did not see arrive)."""
    with open(path, "rb") as stream:
        return of_stream(stream)


def of_stream(stream) -> str:
    """The digest of what ``stream`` holds from where it stands to its end."""
    digest = new()
    while block := stream.read(BLOCK):
        digest.update(block)
    return digest.hexdigest()
