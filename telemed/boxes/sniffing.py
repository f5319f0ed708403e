"""What a box accepts, decided from the content of the assembled file, never from its name.

The allow-list: PDF, images, DICOM, common office documents, plain text, and ZIP
archives (a radiology CD). Executables, HTML, SVG and anything unrecognised are
refused. The first bytes are matched by ``filetype``; formats with a parser at hand
(PDF, images, ZIP) must also open with it, so a file that only starts like one is
refused too.
"""

import re
import zipfile
from typing import BinaryIO

import filetype

from telemed.lib import filetypes

PDF = filetypes.PDF
TEXT = "text/plain"
ZIP = "application/zip"
DICOM = "application/dicom"

IMAGES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/bmp"})
OFFICE = frozenset(
    {
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/rtf",
    }
)
ALLOWED = frozenset({PDF, TEXT, ZIP, DICOM} | IMAGES | OFFICE)
# Shown in the page (PDF in a frame, images in <img>); the rest is download only.
PREVIEWABLE = frozenset({PDF} | (IMAGES - {"image/tiff"}))

HEAD_BYTES = 64 * 1024
# A CD holds a few thousand files; far more means an archive built to hurt whoever opens it.
ZIP_MAX_ENTRIES = 100_000
# Markup a browser would run if it ever got the chance: never stored as "text".
ACTIVE_MARKUP = re.compile(rb"<\s*(?:!doctype|html|head|body|script|iframe|svg|object|embed|meta|link|style)\b", re.I)


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    if head.startswith((b"#!", b"MZ", b"\x7fELF")):
        return False  # scripts and executables
    if ACTIVE_MARKUP.search(head):
        return False
    try:
        # The last bytes may cut a multi-byte character in two.
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:
            return False
    controls = sum(1 for byte in head if byte < 32 and byte not in b"\t\n\r\f")
    return controls == 0


def _safe_zip(stream: BinaryIO) -> bool:
    """The central directory reads, and no entry could escape a folder when unpacked."""
    try:
        with zipfile.ZipFile(stream) as archive:
            entries = archive.infolist()
            if len(entries) > ZIP_MAX_ENTRIES:
                return False
            for entry in entries:
                name = entry.filename.replace("\\", "/")
                if name.startswith("/") or ".." in name.split("/") or "\x00" in name or re.match(r"^[A-Za-z]:", name):
                    return False
        return True
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return False


def identify(stream: BinaryIO) -> str | None:
    """The MIME type of an acceptable file (seekable stream, left at 0), or None when refused."""
    stream.seek(0)
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    kind = filetype.guess(head)
    mime = kind.mime if kind else None
    if mime is None:
        return TEXT if _looks_like_text(head) else None
    if mime not in ALLOWED:
        return None
    if mime == PDF or mime in IMAGES:
        return mime if filetypes.opens_as(stream, mime) else None
    if mime == ZIP:
        result = mime if _safe_zip(stream) else None
        stream.seek(0)
        return result
    return mime
