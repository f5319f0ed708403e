"""One frame of an instance as an 8-bit PNG, rendered on the server.

The decoding goes through pydicom's pixel plugins (numpy for native data, pylibjpeg's
libjpeg, openjpeg and RLE plugins, Pillow) so every common transfer syntax, compressed
or not, comes out the same way. Then, for grayscale: the modality LUT (rescale slope
and intercept), a window (the one asked for, else the file's own, else its VOI LUT,
else the frame's min/max), MONOCHROME1 inverted. Colour images are shown as they are.

Only the asked frame is decoded (``pixel_array(..., index=)``): a 2,000-frame
cine does not have to fit in memory to show one of its frames.
"""

import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut, pixel_array

# Decoding bigger frames would take more memory than one request should.
MAX_FRAME_PIXELS = 64_000_000
THUMBNAIL_SIZES = (128, 256)
DEFLATED = "1.2.840.10008.1.2.1.99"


@dataclass(frozen=True)
class Window:
    center: float
    width: float


# CT presets in Hounsfield units (window centre / width), the usual reading-room values.
PRESETS = {
    "lung": Window(-600, 1500),
    "bone": Window(400, 1800),
    "soft": Window(40, 400),
    "brain": Window(40, 80),
}


class CannotRender(ValueError):
    pass


def _first(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value[0] if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else value)
    except (TypeError, ValueError, IndexError):
        return None


def _linear_window(values: np.ndarray, window: Window) -> np.ndarray:
    """The DICOM linear VOI function (PS3.3 C.11.2.1.2) onto 0..255."""
    width = max(window.width, 1.0)
    low = window.center - 0.5 - (width - 1) / 2
    scaled = (values - low) / max(width - 1, 1.0) * 255.0
    return np.clip(scaled, 0, 255)


def _min_max(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.full(values.shape, 128.0)
    return (values - low) / (high - low) * 255.0


def default_window(ds) -> Window | None:
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        return None
    return Window(center, width)


def _grayscale(ds, frame: np.ndarray, window: Window | None) -> np.ndarray:
    values = apply_modality_lut(frame, ds).astype(np.float64, copy=False)
    if window is not None:
        shown = _linear_window(values, window)
    elif "VOILUTSequence" in ds:
        shown = _min_max(apply_voi_lut(values, ds, prefer_lut=True).astype(np.float64))
    elif (own := default_window(ds)) is not None:
        shown = _linear_window(values, own)
    else:
        shown = _min_max(values)
    shown = np.clip(shown, 0, 255)
    if str(ds.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        shown = 255.0 - shown
    return np.rint(shown).astype(np.uint8)


def _colour(ds, frame: np.ndarray) -> np.ndarray:
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric == "PALETTE COLOR":
        frame = apply_color_lut(frame, ds)
    if frame.dtype != np.uint8:
        frame = np.rint(_min_max(frame.astype(np.float64))).astype(np.uint8)
    return frame


def render_png(source: BinaryIO, *, frame: int = 0, window: Window | None = None, size: int | None = None) -> bytes:
    """The PNG of one frame; CannotRender when the file has no image or its compression cannot be decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source.seek(0)
            ds = pydicom.dcmread(source, stop_before_pixels=True)
            rows, columns = int(ds.Rows), int(ds.Columns)
            frames = max(int(ds.get("NumberOfFrames") or 1), 1)
            if rows * columns > MAX_FRAME_PIXELS:
                raise CannotRender("too large")
            if not 0 <= frame < frames:
                raise CannotRender("no such frame")
            source.seek(0)
            if str(ds.file_meta.get("TransferSyntaxUID", "")) == DEFLATED:
                # The stream must be inflated before the pixels can be found: read it whole (such files are small).
                pixels = pixel_array(pydicom.dcmread(source), index=frame if frames > 1 else None)
            else:
                pixels = pixel_array(source, index=frame if frames > 1 else None)
            if frames > 1 and pixels.ndim > 2 and pixels.shape[0] == 1:
                pixels = pixels[0]
            samples = int(ds.get("SamplesPerPixel") or 1)
            photometric = str(ds.get("PhotometricInterpretation", "")).strip()
            if samples == 1 and photometric != "PALETTE COLOR":
                image = Image.fromarray(_grayscale(ds, pixels, window), mode="L")
            else:
                image = Image.fromarray(_colour(ds, pixels), mode="RGB")
    except CannotRender:
        raise
    except Exception as error:  # damaged data or a compression no plugin decodes
        raise CannotRender(str(error)[:200]) from error
    if size:
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()
