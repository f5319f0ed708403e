"""Radiology studies through the API: lists, a study and its series, a series' frames, and a frame
rendered as PNG with the viewer's window; opening a study and viewing a series are in the
patient's access log, as from the viewer."""

import pytest
from django.core.cache import cache
from django.test import Client

from telemed.api.tests.conftest import bearer
from telemed.audit.models import AuditEntry
from telemed.dicom.services import series_view_mark

pytestmark = pytest.mark.django_db


def test_the_doctor_a_study_is_shared_with_views_its_frames(consult_world, token_for):
    doctor, patient, study = consult_world["doctor"], consult_world["patient"], consult_world["study"]
    # The first image of a series in ten minutes is logged (a mark in the cache): an earlier test's
    # mark, left in this process's cache under the same ids (SQLite reuses them), must not count.
    cache.delete_many([series_view_mark(doctor.pk, series.pk) for series in study.series.all()])
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    as_doctor = bearer(token_for(doctor))

    assert [s["id"] for s in app.get("/api/v1/studies", **bearer(token_for(patient))).json()["items"]] == [study.pk]
    assert app.get("/api/v1/studies", **as_doctor).json()["items"] == []
    shared = app.get("/api/v1/studies?shared=true", **as_doctor).json()["items"]
    assert [s["id"] for s in shared] == [study.pk]

    opened = app.get(f"/api/v1/studies/{study.pk}", **as_doctor)
    assert opened.status_code == 200 and opened.json()["series"][0]["modality"] == "CT"
    assert AuditEntry.objects.filter(actor=doctor, action="view", target_type="dicom.study", patient=patient).exists()

    stack = app.get(opened.json()["series"][0]["frames_url"], **as_doctor).json()
    assert len(stack["frames"]) == 1 and stack["frames"][0]["frame"] == 0
    png = app.get(stack["frames"][0]["url"] + "?wc=40&ww=400&size=128", **as_doctor)
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert b"".join(png.streaming_content if png.streaming else [png.content]).startswith(b"\x89PNG")
    assert AuditEntry.objects.filter(actor=doctor, action="view", target_type="dicom.series", patient=patient).exists()


def test_a_frame_asked_wrongly_is_a_400_naming_what(consult_world, token_for):
    instance_id = consult_world["study"].series.get().instances.get().pk
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(consult_world["patient"]))
    half = app.get(f"/api/v1/instances/{instance_id}/frames/0?wc=40", **headers)
    assert half.status_code == 400
    assert half.json()["detail"] == "Give both the window centre and its width, or neither."
    missing = app.get(f"/api/v1/instances/{instance_id}/frames/7", **headers)
    assert missing.status_code == 400 and missing.json()["errors"] == [
        {"field": "frame", "message": "This image has no such frame."}
    ]
    assert app.get(f"/api/v1/instances/{instance_id}/frames/0?size=999", **headers).status_code == 400
