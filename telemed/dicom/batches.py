"""Many files of a CD in one request: the page sends a CD's small files together.

A radiology CD is hundreds of files of a few hundred kB each. Sent one request per file, each
paid the whole HTTP path (middleware, session, second factor, a thread hop) for little data,
and the upload, not the import, set the pace. The page now packs whole files one after the
other into a single request body, as it reads them from the disk, and the body reaches the view
as it arrives (telemed/streaming.py), so each file is written to the staging while the rest of
the batch is still on the way.

Rules and decisions:
- The body is a sequence of records: a header line ``<size> <path>\\n`` (the size in bytes, in
  decimal; the path relative to the CD's folder, percent-encoded as UTF-8), then exactly
  ``size`` bytes. Nothing else: no compression (DICOM images are already compressed or do not
  shrink much, and deflating would cost more CPU than the bytes it saves on a local network),
  and no per-file checksum (TCP guards the bytes in flight; a file that does not arrive whole is
  cut back by ``staging.append_chunk``).
- Each file is received exactly as the one-file-per-request path receives a single chunk of it
  (``receiving.cd_import_receive``): the same reservation, limits, refusals and skip report.
- A refused file (over quota, unsafe path, too many files, already received) does not stop the
  batch: its bytes are read past and the next record is read. The answer lists every file with
  what happened to it, so the page knows what to send again.
- A header that is not well formed, or a body that ends inside a record, stops the batch with a
  clear error (400): the files before it are kept, the page sends the rest again one by one.
- A connection that drops mid-batch keeps the files already complete; the one in flight is cut
  back, as a dropped chunk is.
- The bookkeeping is per batch, not per file: the body's length is reserved once, against the
  import's limit and the box's quota, before the first byte is written (the files are fewer
  bytes than the body that carries them); the files are written; then one transaction inserts
  their rows, counts them and gives back what was reserved for headers and refused files
  (``receiving.cd_import_batch_reserve`` / ``cd_import_batch_settle``). A batch that does not fit
  whole is received file by file, as before, so that what still fits is taken and each refusal
  names its limit.
- A file is read whole into memory as it arrives (up to ``INDEX_MAX``, which the page's batched
  files never exceed), so that its header is read and its digest computed from the bytes in hand:
  the import then neither reads nor hashes it again, and it ends soon after the last byte.
  Reading a header costs about a millisecond, while the next bytes are on their way anyway.
- A batch never writes over a staged file it did not begin (``staging.create_new`` on the var dir,
  a conditional write in the bucket): a file that is there already was sent before (then it is
  reported whole) or is being sent by another request (then the page sends it again alone,
  resumed). With object storage each file goes to the bucket whole, or not at all, as its last
  byte arrives (staging.py): a batch sent again to another web process goes on from there.
"""

from typing import BinaryIO
from urllib.parse import unquote

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.boxes import digests
from telemed.boxes.services import QuotaExceeded
from telemed.dicom import imports, reading, receiving, staging
from telemed.dicom.models import CdImport, ImportedFile

HEADER_MAX = 4096
SKIP_BLOCK = 1024 * 1024
# Files up to this size are held in memory as they arrive, to read their header and digest.
INDEX_MAX = 8 * 1024 * 1024


class _Counted:
    """The request body, counting what was read of it."""

    def __init__(self, stream: BinaryIO):
        self._stream, self.read_bytes = stream, 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.read_bytes += len(data)
        return data

    def header(self, limit: int) -> bytes:
        """One header line, read a byte at a time from the buffered body (it is a few dozen bytes)."""
        line = bytearray()
        while len(line) < limit:
            byte = self.read(1)
            if not byte:
                break
            line += byte
            if byte == b"\n":
                break
        return bytes(line)

    def skip(self, size: int) -> None:
        while size > 0:
            data = self.read(min(SKIP_BLOCK, size))
            if not data:
                raise _Ended
            size -= len(data)


class _Ended(Exception):
    """The body ended before the record it announced."""


def _malformed() -> ValidationError:
    return ValidationError(_("The batch is not well formed: send its files one by one."), code="batch")


def _cut(path: str) -> ValidationError:
    return ValidationError(_("The batch ends inside “%(path)s”: send it again.") % {"path": path[:200]}, code="batch")


def _parse(line: bytes) -> tuple[int, str]:
    if not line.endswith(b"\n"):
        raise _malformed()
    size_text, _space, encoded = line[:-1].partition(b" ")
    if not size_text.isdigit() or len(size_text) > 12 or not encoded:
        raise _malformed()
    try:
        path = unquote(encoded.decode("ascii"), errors="strict")
    except UnicodeDecodeError:
        raise _malformed() from None
    return int(size_text), path


def cd_import_receive_batch(*, actor: User, cd_import: CdImport, stream: BinaryIO, length: int) -> list[dict]:
    """Receive the batch of ``length`` bytes; returns one entry per file, in order."""
    body = _Counted(stream)
    if not receiving.cd_import_batch_reserve(actor=actor, cd_import=cd_import, length=length):
        return _records(body, length, lambda path, size: _one_file(actor, cd_import, body, path, size))
    batch = _Batch(cd_import, body)
    try:
        results = _records(body, length, batch.receive)
    finally:
        refusals = receiving.cd_import_batch_settle(
            cd_import=cd_import, held=length, files=[f for f, _r in batch.files]
        )
    for (_file, result), refusal in zip(batch.files, refusals, strict=True):
        if refusal is not None:
            result.update(received=0, code=refusal.code, error=_message(refusal))
    return results


def _records(body: "_Counted", length: int, receive) -> list[dict]:
    """Each record of the body handed to ``receive(path, size)``, which returns the file's entry."""
    results = []
    while body.read_bytes < length:
        size, path = _parse(body.header(min(HEADER_MAX, length - body.read_bytes)))
        if size > length - body.read_bytes:
            raise _cut(path)
        started = body.read_bytes
        try:
            results.append(receive(path, size))
        except QuotaExceeded as error:
            results.append({"path": path, "received": 0, "size": size, "code": "quota", "error": _message(error)})
        except imports.ImportConflict as error:
            results.append(
                {"path": path, "received": error.received, "size": size, "code": error.code, "error": _message(error)}
            )
        except ValidationError as error:
            if error.code in {"truncated", "chunk"}:
                raise  # the connection broke inside this file: nothing more will come
            results.append(
                {"path": path, "received": 0, "size": size, "code": error.code or "invalid", "error": _message(error)}
            )
        try:
            body.skip(size - (body.read_bytes - started))  # what a refused file did not read
        except _Ended:
            raise _cut(path) from None
    return results


def _one_file(actor: User, cd_import: CdImport, body: "_Counted", path: str, size: int) -> dict:
    """A file received on its own, as one whole chunk of the one-file path."""
    entry = receiving.cd_import_receive(
        actor=actor, cd_import=cd_import, path=path, offset=0, total=size, stream=body, length=size
    )
    return {"path": path, "received": entry.received, "size": size}


class _Batch:
    """The files of a batch whose bytes were reserved at once: written as they come, counted at the end."""

    def __init__(self, cd_import: CdImport, body: "_Counted"):
        self.cd_import, self.body = cd_import, body
        self.area = staging.area()
        self.files: list[tuple[ImportedFile, dict]] = []

    def receive(self, path: str, size: int) -> dict:
        relative = receiving.file_admitted(self.cd_import, path, size)
        if size > receiving.MAX_CHUNK_BYTES:
            raise receiving.chunk_too_big()
        try:
            with self.area.new_file(self.cd_import.pk, relative) as staged:
                header, digest = self._write(staged, relative, size)
        except staging.AlreadyStaged:
            received = receiving.imported_file_received(self.cd_import, relative)
            if received == size:
                raise receiving.offset_conflict(0, received) from None
            raise receiving.busy_conflict(received or 0) from None
        except staging.ChunkError as error:
            raise receiving.chunk_refused(error, size) from None
        entry = ImportedFile(
            cd_import=self.cd_import, path=relative, size=size, received=size,
            header=header.as_json() if header else None, digest=digest,
        )  # fmt: skip
        result = {"path": path, "received": size, "size": size}
        self.files.append((entry, result))
        return result

    def _write(self, staged: staging.NewFile, relative: str, size: int) -> tuple[reading.Header | None, str]:
        if size > INDEX_MAX:  # left for the import to read
            staged.write_from(self.body, size)
            return None, ""
        try:
            data = self.body.read(size)
        except OSError:
            raise staging.ChunkError("chunk") from None
        if len(data) != size:
            raise staging.ChunkError("truncated", len(data))
        staged.write(data)
        try:
            header = reading.header_of_bytes(data, relative)
        except (reading.NotDicom, reading.Unusable):
            return None, ""  # the import reads it again, and says why it was not imported
        return header, digests.new(data).hexdigest()


def _message(error: ValidationError) -> str:
    return " ".join(error.messages)
