"""Radiology (DICOM) studies through the API: the person's own studies or those shared with a
doctor, one study with its series (opening it is in the patient's access log, as the viewer's
page), a series' frames in viewing order, and one frame rendered as PNG with the viewer's window
and sizes (the first image of a series in ten minutes is in the access log, as from the viewer).
The same selectors, the same rendering and cache (``dicom.frames``) and the same query form."""

import datetime
from typing import Annotated

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from telemed.api.auth import access, scoped
from telemed.api.errors import ERRORS, Error
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import object_id
from telemed.dicom import frames, rendering, selectors, services
from telemed.dicom.forms import RenderForm
from telemed.dicom.models import Series, Study

router = Router(tags=["studies"])

PAGE_SIZE = 50
# As the viewer: a series' stack lists at most so many frames.
FRAMES_MAX = 5000
PNG_CONTENT = {"image/png": {"schema": {"type": "string", "format": "binary"}}}


class StudyOut(Schema):
    id: int
    description: str
    study_date: datetime.date | None
    modalities: str
    institution: str
    series_count: int
    image_count: int
    owner_id: int
    created_at: datetime.datetime


class StudyPage(PageInfo):
    items: list[StudyOut]


class SeriesOut(Schema):
    id: int
    number: int | None
    modality: str
    description: str
    image_count: int
    frames_url: str


class StudyDetail(StudyOut):
    series: list[SeriesOut]


class FrameOut(Schema):
    instance_id: int
    number: int | None
    frame: int
    url: str


class SeriesFrames(Schema):
    id: int
    description: str
    modality: str
    frames: list[FrameOut]


class FrameQuery(Schema):
    # The window (centre and width, both or neither; none: the file's own) and a thumbnail size.
    wc: float | None = None
    ww: float | None = None
    # 128 or 256 pixels, as the viewer's thumbnails.
    size: Annotated[int, Field(ge=1, le=4096)] | None = None


def _study(study: Study) -> dict:
    return {
        "id": study.pk,
        "description": study.description,
        "study_date": study.study_date,
        "modalities": study.modalities,
        "institution": study.institution,
        "series_count": study.series_count,
        "image_count": study.image_count,
        "owner_id": study.box.owner_id,
        "created_at": study.created_at,
    }


def _series(request: HttpRequest, series: Series) -> dict:
    return {
        "id": series.pk,
        "number": series.number,
        "modality": series.modality,
        "description": series.description,
        "image_count": series.image_count,
        "frames_url": request.build_absolute_uri(reverse("api-v1:series_frames", args=[series.pk])),
    }


@router.get(
    "/studies",
    response={200: StudyPage, **ERRORS},
    auth=access("studies:read"),
    openapi_extra=scoped("studies:read"),
    summary="List radiology studies",
)
def studies_list(request: HttpRequest, page: str = "", shared: bool = False):
    """The studies of the person's own box (Welbox or Medbox); ``shared=true``: for a doctor, those
    patients and colleagues share with them."""
    user = request.user
    studies = selectors.studies_shared_with(user) if shared else selectors.studies_owned_by(user)
    info, items = page_of(studies, page, PAGE_SIZE)
    return {**info.dict(), "items": [_study(study) for study in items]}


@router.get(
    "/studies/{study_id}",
    response={200: StudyDetail, **ERRORS},
    auth=access("studies:read"),
    openapi_extra=scoped("studies:read"),
    summary="Read a study and its series",
)
def study_detail(request: HttpRequest, study_id: int = object_id()):
    study = selectors.study_get_for_user(request.user, study_id)
    services.study_viewed(actor=request.user, study=study, request=request)
    return {**_study(study), "series": [_series(request, s) for s in selectors.series_list_for_study(study)]}


@router.get(
    "/series/{series_id}/frames",
    response={200: SeriesFrames, **ERRORS},
    auth=access("studies:read"),
    openapi_extra=scoped("studies:read"),
    url_name="series_frames",
    summary="The frames of a series, in viewing order",
)
def series_frames(request: HttpRequest, series_id: int = object_id()):
    series = selectors.series_get_for_user(request.user, series_id)
    found = []
    for instance in selectors.instances_of_series(series).filter(frames__gt=0).only("pk", "number", "frames"):
        first = request.build_absolute_uri(reverse("api-v1:instance_frame", args=[instance.pk, 0]))
        base = first.rsplit("/", 1)[0]
        for frame in range(min(instance.frames, FRAMES_MAX - len(found))):
            found.append(
                {"instance_id": instance.pk, "number": instance.number, "frame": frame, "url": f"{base}/{frame}"}
            )
        if len(found) >= FRAMES_MAX:
            break
    return {"id": series.pk, "description": str(series), "modality": series.modality, "frames": found}


@router.get(
    "/instances/{instance_id}/frames/{frame}",
    response={**ERRORS, 422: Error},
    auth=access("studies:read"),
    url_name="instance_frame",
    summary="One frame rendered as PNG",
    openapi_extra=scoped("studies:read", responses={"200": {"description": "The frame", "content": PNG_CONTENT}}),
)
def instance_frame(
    request: HttpRequest,
    query: Query[FrameQuery],
    instance_id: int = object_id(),
    frame: int = Path(..., ge=0, le=100_000),
):
    """As the viewer's images: the window of the file, a preset's or any other (``wc``, ``ww``),
    and a thumbnail ``size`` (128 or 256 pixels). 422 when the image cannot be displayed."""
    instance = selectors.instance_get_for_user(request.user, instance_id)
    form = RenderForm({"frame": frame, **{name: value for name, value in query.dict().items() if value is not None}})
    if not form.is_valid():
        raise ValidationError({("request" if f == "__all__" else f): e for f, e in form.errors.as_data().items()})
    if not instance.frames:
        raise ValidationError({"instance_id": _("This object of the study is not an image.")})
    if frame >= instance.frames:
        raise ValidationError({"frame": _("This image has no such frame.")})
    data = form.cleaned_data
    window = rendering.Window(data["wc"], data["ww"]) if data.get("wc") is not None else None
    services.series_viewed(actor=request.user, series=instance.series, request=request)
    try:
        png = frames.frame_png(instance, frame=frame, window=window, size=data.get("size") or None)
    except rendering.CannotRender:
        message = _("This image cannot be displayed (its data is damaged or its compression is not supported).")
        return Status(422, {"detail": message, "errors": []})
    return frames.png_response(png)
