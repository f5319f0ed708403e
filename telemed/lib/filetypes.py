"""Recognise what a file really is from its content, never from its name.

Uploads are first sniffed by their magic bytes (the ``filetype`` library), then
opened by the library that understands the format, so that a file that merely
starts like a PDF or a PNG is still refused.
"""

from typing import BinaryIO

import filetype
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PdfReadError

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"

DOCUMENT_OR_IMAGE = frozenset({PDF, JPEG, PNG, WEBP})

# A scanned certificate is a few megapixels; anything far beyond is a bomb.
MAX_IMAGE_PIXELS = 80_000_000


def sniff(stream: BinaryIO) -> str | None:
    """The MIME type read from the first bytes, or None when unknown. Leaves the stream at 0."""
    stream.seek(0)
    head = stream.read(8192)
    stream.seek(0)
    kind = filetype.guess(head)
    return kind.mime if kind else None


def opens_as(stream: BinaryIO, mime: str) -> bool:
    """True when the format's own parser accepts the content."""
    stream.seek(0)
    try:
        if mime == PDF:
            reader = PdfReader(stream, strict=False)
            return len(reader.pages) > 0
        with Image.open(stream) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return False
            image.verify()
        return True
    except (PdfReadError, UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False
    except Exception:  # noqa: BLE001 - a hostile file may break a parser in any way; it is simply refused
        return False
    finally:
        stream.seek(0)


def identify_document_or_image(stream: BinaryIO) -> str | None:
    """The MIME type of a PDF or image that really is one, else None."""
    mime = sniff(stream)
    if mime not in DOCUMENT_OR_IMAGE:
        return None
    return mime if opens_as(stream, mime) else None
