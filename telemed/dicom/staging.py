"""Where a CD's files wait before the import: a folder of the var dir per import, or a private
prefix of the bucket with object storage (``area()``, at the end).

Nothing a client sends decides where a byte lands outside that folder: relative paths
are cleaned (no ``..``, no absolute paths, no drive letters, no control characters,
bounded depth and length), chunks are written with all-or-nothing semantics, and a ZIP
is unpacked entry by entry after its central directory was checked for bombs, unsafe
names, links and file counts, counting the bytes really written (a ZIP can lie).
"""

import fcntl
import logging
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage

from telemed.boxes import parts
from telemed.lib import durable

logger = logging.getLogger(__name__)

COPY_BLOCK = 1024 * 1024
PATH_MAX = 255
COMPONENT_MAX = 120
DEPTH_MAX = 16
# A CD holds a few thousand files; a DVD of a long MR exam maybe 20,000.
MAX_FILES = 20_000
# More than any CD or DVD; the box's free space usually stops an import much earlier.
MAX_IMPORT_BYTES = 8 * 1024**3
# DICOM images compress a few times at most; an entry that expands a hundred times is a bomb.
MAX_RATIO = 100
RATIO_FLOOR_BYTES = 1024 * 1024


# A ZIP's content is unpacked next to it, in a folder named after it plus this suffix.
UNPACKED_SUFFIX = ".unzipped"


class Readable(Protocol):
    """What a chunk is read from: a request's body, a file, a batch's body."""

    def read(self, size: int = -1, /) -> bytes: ...


class UnsafePath(ValueError):
    pass


def unpacked_dir(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + UNPACKED_SUFFIX)


def name_on_cd(staged_relative: str) -> str:
    """The name a person sees on the CD for a staged file: a ZIP member is ``disc.zip/DICOM/IM1``,
    as the ZIP names it, never the folder it was unpacked into."""
    return "/".join(
        part[: -len(UNPACKED_SUFFIX)] if part.endswith(UNPACKED_SUFFIX) else part for part in staged_relative.split("/")
    )


def imports_root() -> Path:
    path = Path(settings.VAR_DIR) / "dicom-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_dir(import_id) -> Path:
    return imports_root() / str(import_id)


def files_dir(import_id) -> Path:
    return import_dir(import_id) / "files"


def remove_import_dir(import_id) -> None:
    shutil.rmtree(import_dir(import_id), ignore_errors=True)


def clean_relative_path(raw: str) -> str:
    """A client's relative path made safe to stage, or UnsafePath."""
    if not isinstance(raw, str) or not raw:
        raise UnsafePath("empty")
    if "\x00" in raw or any(ord(ch) < 32 for ch in raw):
        raise UnsafePath("control characters")
    unified = raw.replace("\\", "/")
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise UnsafePath("absolute")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if not parts or any(part == ".." for part in parts):
        raise UnsafePath("parent")
    if len(parts) > DEPTH_MAX or any(len(part) > COMPONENT_MAX for part in parts):
        raise UnsafePath("too deep or too long")
    cleaned = "/".join(parts)
    if len(cleaned) > PATH_MAX:
        raise UnsafePath("too long")
    return cleaned


def staged_path(import_id, relative: str) -> Path:
    """The file's place in the import's folder; the relative path must already be clean."""
    root = files_dir(import_id)
    path = root.joinpath(*PurePosixPath(relative).parts)
    # Belt and braces: whatever cleaning missed, nothing resolves outside the folder.
    if not path.resolve().is_relative_to(root.resolve()):
        raise UnsafePath("outside")
    return path


class ChunkError(ValueError):
    def __init__(self, code: str, received: int = 0):
        super().__init__(code)
        self.code, self.received = code, received


def open_for_append(path: Path) -> int:
    """The staged file's descriptor, locked (``flock``) so that two requests never write it at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ChunkError("busy") from None
    return fd


def create_new(path: Path) -> int | None:
    """A new staged file's descriptor, or None when the file exists already (sent before, or
    being sent by another request): a batch never writes over a file it did not begin."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return None


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy(stream: Readable, length: int, write) -> None:
    """``length`` bytes from ``stream`` to ``write``, a block at a time; ChunkError when reading or
    writing fails ("chunk") or the stream ends short ("truncated"), with how much got through."""
    received = 0
    try:
        while received < length:
            block = stream.read(min(COPY_BLOCK, length - received))
            if not block:
                break
            write(block)
            received += len(block)
    except OSError as error:
        raise ChunkError("chunk", received) from error
    if received != length:
        raise ChunkError("truncated", received)


def append_chunk(fd: int, stream: Readable, offset: int, length: int) -> None:
    """Write ``length`` bytes at ``offset``; on a short or failed read the file is cut back to ``offset``."""
    os.ftruncate(fd, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    try:
        _copy(stream, length, lambda block: write_all(fd, block))
    except ChunkError:
        os.ftruncate(fd, offset)
        raise


def looks_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as stream:
            if stream.read(4) != b"PK\x03\x04":
                return False
        return zipfile.is_zipfile(path)
    except OSError:
        return False


@dataclass
class Unpacked:
    """What came out of a ZIP: the bytes written, and the entries left out with their reason."""

    written: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


class ZipRefused(ValueError):
    def __init__(self, code: str, **details):
        super().__init__(code)
        self.code, self.details = code, details


def _entry_is_link(entry: zipfile.ZipInfo) -> bool:
    mode = entry.external_attr >> 16
    return entry.create_system == 3 and stat.S_ISLNK(mode)


def check_zip(path: Path, *, room: int) -> tuple[list[zipfile.ZipInfo], int]:
    """Read the central directory and refuse the whole archive when it cannot be a CD.

    ``room``: how many bytes the unpacked files may take (the box's free space, capped).
    Returns the file entries and their declared total size.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise ZipRefused("zip_damaged") from None
    files = [entry for entry in entries if not entry.is_dir()]
    if len(files) > MAX_FILES:
        raise ZipRefused("zip_too_many", count=len(files), limit=MAX_FILES)
    total = sum(entry.file_size for entry in files)
    for entry in files:
        if entry.file_size > RATIO_FLOOR_BYTES and entry.file_size > MAX_RATIO * max(entry.compress_size, 1):
            raise ZipRefused("zip_bomb")
    if total > min(room, MAX_IMPORT_BYTES):
        raise ZipRefused("zip_too_big", size=total, room=min(room, MAX_IMPORT_BYTES))
    return files, total


def unpack_zip(path: Path, target: Path, entries: list[zipfile.ZipInfo], declared_total: int) -> Unpacked:
    """Unpack the checked entries under ``target``; unsafe entries are left out with a reason.

    The bytes really written are counted against the declared sizes: an entry that
    grows beyond what the central directory says is cut off and dropped.
    """
    result = Unpacked()
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    with zipfile.ZipFile(path) as archive:
        for entry in entries:
            name = entry.filename
            if _entry_is_link(entry):
                result.skipped.append((name, "symlink"))
                continue
            if entry.flag_bits & 0x1:
                result.skipped.append((name, "encrypted"))
                continue
            try:
                relative = clean_relative_path(name)
                destination = target.joinpath(*PurePosixPath(relative).parts)
                if not destination.resolve().is_relative_to(root):
                    raise UnsafePath("outside")
            except UnsafePath:
                result.skipped.append((name[:PATH_MAX], "unsafe_path"))
                continue
            if destination.exists():
                result.skipped.append((relative, "duplicate_path"))
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with archive.open(entry) as source, open(destination, "xb") as out:
                    while block := source.read(COPY_BLOCK):
                        written += len(block)
                        if written > entry.file_size or result.written + written > declared_total:
                            raise ZipRefused("zip_bomb")
                        out.write(block)
                    out.flush()
                    durable.start_writeback(out.fileno(), 0, written)
            except ZipRefused:
                destination.unlink(missing_ok=True)
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
                # zlib errors, CRC mismatches, unsupported compression methods: that entry only.
                destination.unlink(missing_ok=True)
                result.skipped.append((relative, "damaged"))
                continue
            result.written += written
    return result


# --- the staging area: on the var dir's disk, or in the bucket ------------------------------------
# Receiving and importing a CD speak to one ``area()``, chosen by the settings: without object
# storage (the embedded default) the files wait in a folder of the var dir, as above, and the
# web processes and the task workers share that var dir; with object storage (``STORAGE_URL``)
# they wait in the bucket, under a private prefix of the import, so that any web process on any
# host takes the next file or chunk and any worker on any host imports the CD.

BUCKET_PREFIX = "private/cd-staging"


class AlreadyStaged(Exception):
    """The file is staged already, or being staged by another request: a batch never writes over it."""


class NewFile(Protocol):
    """A file of a batch being staged: written whole, kept only when the ``with`` block ends well."""

    def write(self, data: bytes) -> None: ...

    def write_from(self, stream: Readable, size: int) -> None: ...


class ChunkTarget(Protocol):
    """A file of the CD taking one chunk (the one-file-per-request path)."""

    def append(self, entry, offset: int, stream: Readable, length: int) -> dict:
        """Write the chunk (all or nothing); returns what the file's row keeps of it besides ``received``."""
        ...

    def undo(self, offset: int) -> None:
        """The chunk was not counted (the row moved meanwhile): what it wrote goes, where it can."""
        ...


class WorkingCopy(Protocol):
    """The staged files as a folder of the task's host, for the import to read (``root``)."""

    root: Path

    def received_as(self, path: Path) -> str | None:
        """The relative path under which ``path`` was received (its header may have been read then)."""
        ...

    def unpacking_began(self, relative: str) -> bool: ...

    def unpacking_begins(self, relative: str) -> None: ...

    def place(self, path: Path, name: str) -> str:
        """The file at ``path`` put into the storage under ``name``; the name it got. It is in
        the bucket for good, or on the disk once ``make_durable`` has run."""
        ...

    def make_durable(self) -> None:
        """Before the rows of the files placed since the last call are committed: their bytes
        and their names on the disk."""
        ...


class StagingArea(Protocol):
    def check(self, import_id, relative: str) -> None:
        """UnsafePath when the clean relative path would still land outside the import's place."""
        ...

    def new_file(self, import_id, relative: str) -> AbstractContextManager[NewFile]: ...

    def chunk_target(self, import_id, relative: str) -> AbstractContextManager[ChunkTarget]: ...

    def discard(self, import_id, relative: str) -> None: ...

    def remove(self, import_id) -> None:
        """Everything staged for the import goes (it ended: done, failed, cancelled or expired)."""
        ...

    def working_copy(self, import_id, files: list) -> AbstractContextManager[WorkingCopy]:
        """``files``: the import's ImportedFile rows."""
        ...


def area() -> StagingArea:
    """Where this deployment stages CDs: the bucket with object storage, else the var dir."""
    return BucketArea() if parts.in_object_storage() else LocalArea()


# A staged file is handed to the disk as it is written (lib/durable.py), so that the import's
# flush before it records the instance (_LocalCopy.make_durable) finds it written already.


class _LocalNewFile:
    def __init__(self, fd: int):
        self.fd = fd

    def write(self, data: bytes) -> None:
        write_all(self.fd, data)
        durable.start_writeback(self.fd, 0, len(data))

    def write_from(self, stream: Readable, size: int) -> None:
        append_chunk(self.fd, stream, 0, size)
        durable.start_writeback(self.fd, 0, size)


class _LocalChunk:
    def __init__(self, fd: int):
        self.fd = fd

    def append(self, entry, offset: int, stream: Readable, length: int) -> dict:
        append_chunk(self.fd, stream, offset, length)
        durable.start_writeback(self.fd, offset, length)
        return {}

    def undo(self, offset: int) -> None:
        os.ftruncate(self.fd, offset)


class _LocalCopy:
    """The import's folder itself: the var dir is shared with the web processes."""

    def __init__(self, root: Path):
        self.root = root
        self.linked: list[Path] = []
        self.placed_in: set[Path] = set()

    def received_as(self, path: Path) -> str | None:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return None

    def unpacking_began(self, relative: str) -> bool:
        path = self.root.joinpath(*relative.split("/"))
        return unpacked_dir(path).exists() and path.exists()  # unpacked, and not yet removed

    def unpacking_begins(self, relative: str) -> None:
        pass  # the folder it is unpacked into says so

    def place(self, path: Path, name: str) -> str:
        """Never moved: a staged file moved into place whose rows were not committed yet would be
        lost to a kill, as the resumed run reads the staging again (the staging is removed when
        the import ends). On the local disk it is linked (a second name for the same bytes: no
        copy, and the bytes stay when the staging's name goes), and flushed with the others by
        ``make_durable``; elsewhere it is copied (a storage's save flushes: telemed/filestorage.py)."""
        if isinstance(default_storage, FileSystemStorage):
            target = Path(default_storage.path(name))
            if target.parent not in self.placed_in:
                target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except FileExistsError:  # a dead run's, without its row (importing._storage_name)
                target.unlink()
                os.link(path, target)
            except OSError:  # another file system: copied below
                target = None
            if target is not None:
                self.linked.append(path)
                self.placed_in.add(target.parent)
                return name
        with open(path, "rb") as stream:
            return default_storage.save(name, File(stream, name=path.name))

    def make_durable(self) -> None:
        """The files linked since the last call, then the folders they were linked into, flushed
        (quickly: their bytes were handed to the disk as they arrived, _LocalNewFile)."""
        for path in self.linked:
            durable.flush_file(path)
        for folder in self.placed_in:
            durable.flush_directory(folder)
        self.linked, self.placed_in = [], set()


class LocalArea:
    """A folder of the var dir per import (the embedded default)."""

    def check(self, import_id, relative: str) -> None:
        staged_path(import_id, relative)

    @contextmanager
    def new_file(self, import_id, relative: str) -> Iterator[NewFile]:
        path = staged_path(import_id, relative)
        fd = create_new(path)
        if fd is None:
            raise AlreadyStaged(relative)
        try:
            yield _LocalNewFile(fd)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)

    @contextmanager
    def chunk_target(self, import_id, relative: str) -> Iterator[ChunkTarget]:
        fd = open_for_append(staged_path(import_id, relative))
        try:
            yield _LocalChunk(fd)
        finally:
            os.close(fd)

    def discard(self, import_id, relative: str) -> None:
        staged_path(import_id, relative).unlink(missing_ok=True)

    def remove(self, import_id) -> None:
        remove_import_dir(import_id)

    @contextmanager
    def working_copy(self, import_id, files: list) -> Iterator[WorkingCopy]:
        root = files_dir(import_id)
        root.mkdir(parents=True, exist_ok=True)
        yield _LocalCopy(root)


def _spool(stream: Readable, length: int) -> tempfile.SpooledTemporaryFile:
    """``length`` bytes of the stream in a temporary file (in memory while small), or ChunkError:
    only a whole file or chunk reaches the bucket."""
    # Handed to the caller, who closes it; closed here when the bytes did not all arrive.
    spool = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
    try:
        _copy(stream, length, spool.write)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


class _BucketNewFile:
    def __init__(self):
        self.body: bytes | tempfile.SpooledTemporaryFile = b""
        self.size = 0

    def write(self, data: bytes) -> None:
        self.body, self.size = data, len(data)

    def write_from(self, stream: Readable, size: int) -> None:
        self.body, self.size = _spool(stream, size), size


class _BucketChunk:
    def __init__(self, name: str):
        self.name = name

    def append(self, entry, offset: int, stream: Readable, length: int) -> dict:
        """A file sent whole in one chunk is one object; a longer one an S3 multipart upload
        (boxes/parts.py), its upload id and parts kept on the file's row, completed by its last
        chunk: whichever web process takes the next chunk goes on with it."""
        last = offset + length == entry.size
        if not last and length < parts.MIN_PART_BYTES:
            raise ChunkError("small")
        with _spool(stream, length) as body:
            try:
                if offset == 0 and last:
                    parts.object_put(self.name, body, length)
                    return {}
                multipart_id = parts.multipart_open(self.name) if offset == 0 else entry.multipart_id
                done = [] if offset == 0 else list(entry.parts)
                if not multipart_id:
                    raise ChunkError("chunk")
                number = len(done) + 1
                etag = parts.part_put(self.name, multipart_id, number, body, length)
                done.append({"number": number, "etag": etag, "size": length})
                if last:
                    parts.multipart_complete(self.name, multipart_id, done)
            except parts.Unavailable as error:
                raise ChunkError("chunk") from error
        return {"multipart_id": multipart_id, "parts": done}

    def undo(self, offset: int) -> None:
        # Nothing to take back: the row says where the file stands, and the request that moved it
        # wrote the same part (identical bytes have the same ETag; the completion checks them all).
        pass


class _BucketCopy:
    """The staged files downloaded into a temporary folder of the worker's host. A file whose
    header and digest were read as it arrived is not downloaded: it stands there as an empty
    (sparse) file of its size, for the DICOMDIR and the scan to find, and goes into the storage
    by a copy inside the bucket. Files are followed by their inode, so that one the DICOMDIR's
    lenient renaming moved is still known by the name it was received and staged under; each keeps
    a second name outside the tree (``held``), so that its inode is never given to another file (a
    ZIP's member) while the copy lives, even after the import removed the first name."""

    def __init__(self, import_id, folder: Path):
        self.import_id, self.root, self.held = import_id, folder / "files", folder / "held"
        self.root.mkdir()
        self.held.mkdir()
        self.received: dict[int, str] = {}
        self.marked: set[str] | None = None

    def fetch(self, files: list) -> None:
        for entry in files:
            if entry.received != entry.size:
                continue  # the import reports it incomplete
            path = self.root.joinpath(*entry.path.split("/"))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if entry.header and entry.digest:
                    with open(path, "xb") as placeholder:
                        placeholder.truncate(entry.size)
                else:
                    parts.object_download(BucketArea.name_of(self.import_id, entry.path), path)
            except (OSError, parts.Refused):
                # Not in the bucket (any more), or a name that is also a folder's ("a" and "a/b",
                # which no disk holds at once): left out, as a missing file of the var dir.
                logger.warning("CD import %s: staged file %r left out", self.import_id, entry.path, exc_info=True)
                continue
            os.link(path, self.held / str(len(self.received)))
            self.received[os.stat(path).st_ino] = entry.path

    def received_as(self, path: Path) -> str | None:
        try:
            return self.received.get(os.stat(path).st_ino)
        except OSError:
            return None

    def _marker(self, relative: str) -> str:
        return f"{BUCKET_PREFIX}/{self.import_id}/unpacking/{relative}"

    def unpacking_began(self, relative: str) -> bool:
        # What a dead run unpacked was on its worker's disk, lost with it: a run that finds the
        # mark of a ZIP it began unpacking cannot resume (its reservations moved half-way).
        if self.marked is None:
            self.marked = set(parts.object_names_under(f"{BUCKET_PREFIX}/{self.import_id}/unpacking/"))
        return relative in self.marked

    def unpacking_begins(self, relative: str) -> None:
        parts.object_put(self._marker(relative), b"", 0)

    def place(self, path: Path, name: str) -> str:
        relative = self.received_as(path)
        if relative is not None:
            parts.object_copy(BucketArea.name_of(self.import_id, relative), name)
            return name
        with open(path, "rb") as stream:  # a ZIP's member, unpacked here
            return default_storage.save(name, File(stream, name=path.name))

    def make_durable(self) -> None:
        pass  # the bucket answered each copy and each save once they were durable


class BucketArea:
    """A private prefix of the bucket per import (object storage, ``STORAGE_URL``)."""

    @staticmethod
    def name_of(import_id, relative: str) -> str:
        return f"{BUCKET_PREFIX}/{import_id}/files/{relative}"

    def check(self, import_id, relative: str) -> None:
        pass  # a key is a name: nothing resolves it elsewhere (links, ``..``), and the path is clean

    @contextmanager
    def new_file(self, import_id, relative: str) -> Iterator[NewFile]:
        staged = _BucketNewFile()
        try:
            yield staged
            try:
                if not parts.object_put_new(self.name_of(import_id, relative), staged.body, staged.size):
                    raise AlreadyStaged(relative)
            except parts.Unavailable as error:
                raise ChunkError("chunk") from error
        finally:
            if not isinstance(staged.body, bytes):
                staged.body.close()

    @contextmanager
    def chunk_target(self, import_id, relative: str) -> Iterator[ChunkTarget]:
        # No lock: two requests with the same chunk may both write it; the row's conditional
        # UPDATE counts one (receiving.cd_import_receive).
        yield _BucketChunk(self.name_of(import_id, relative))

    def discard(self, import_id, relative: str) -> None:
        default_storage.delete(self.name_of(import_id, relative))

    def remove(self, import_id) -> None:
        try:
            parts.objects_remove_under(f"{BUCKET_PREFIX}/{import_id}/")
        except parts.Unavailable:
            # The import has ended all the same; the bucket's lifecycle rule takes what is left.
            logger.warning("CD import %s: staged objects not removed", import_id, exc_info=True)

    @contextmanager
    def working_copy(self, import_id, files: list) -> Iterator[WorkingCopy]:
        with tempfile.TemporaryDirectory(prefix="cd-import-", dir=settings.FILE_UPLOAD_TEMP_DIR) as folder:
            copy = _BucketCopy(import_id, Path(folder).resolve())
            copy.fetch(files)
            yield copy
