"""Where a CD's files wait before the import: a folder of the var dir per import.

Nothing a client sends decides where a byte lands outside that folder: relative paths
are cleaned (no ``..``, no absolute paths, no drive letters, no control characters,
bounded depth and length), chunks are written with all-or-nothing semantics, and a ZIP
is unpacked entry by entry after its central directory was checked for bombs, unsafe
names, links and file counts, counting the bytes really written (a ZIP can lie).
"""

import fcntl
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Protocol

from django.conf import settings

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


def append_chunk(fd: int, stream: Readable, offset: int, length: int) -> None:
    """Write ``length`` bytes at ``offset``; on a short or failed read the file is cut back to ``offset``."""
    os.ftruncate(fd, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    received = 0
    try:
        while received < length:
            block = stream.read(min(COPY_BLOCK, length - received))
            if not block:
                break
            write_all(fd, block)
            received += len(block)
    except OSError as error:
        os.ftruncate(fd, offset)
        raise ChunkError("chunk", received) from error
    if received != length:
        os.ftruncate(fd, offset)
        raise ChunkError("truncated", received)


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
