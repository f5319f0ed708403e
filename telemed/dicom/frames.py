"""One frame of an image rendered as PNG, as the viewer and the API serve it: the file's own window
and the presets are kept (on disk, or in the bucket with object storage: ``services.rendered_cache_*``;
a dragged window is rendered and forgotten), and every frame served is answered the same way
(private, an hour, no sniffing)."""

from pathlib import Path

from django.http import FileResponse, HttpResponse

from telemed.dicom import rendering, services
from telemed.dicom.models import Instance


def _cache_key(frame: int, window, size) -> str | None:
    """Only the file's own window and the presets are kept: a dragged window is rendered and forgotten."""
    if window is not None and window not in rendering.PRESETS.values():
        return None
    label = "own" if window is None else f"{window.center:g}_{window.width:g}"
    return f"{frame}-{label}-{size or 0}"


def frame_png(instance: Instance, *, frame: int, window, size) -> Path | bytes:
    """The PNG of ``frame`` (kept, or rendered now); ``rendering.CannotRender`` when the data is
    damaged or its compression is not supported."""
    key = _cache_key(frame, window, size)
    cached = services.rendered_cache_get(instance.pk, key) if key is not None else None
    if cached is not None:
        return cached
    with instance.file.open("rb") as source:
        png = rendering.render_png(source, frame=frame, window=window, size=size)
    if key is not None:
        services.rendered_cache_put(instance.pk, key, png)
    return png


def png_response(path_or_bytes: Path | bytes) -> HttpResponse:
    if isinstance(path_or_bytes, Path):
        response = FileResponse(open(path_or_bytes, "rb"), content_type="image/png")  # noqa: SIM115 - closed by Django
    else:
        response = HttpResponse(path_or_bytes, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response
