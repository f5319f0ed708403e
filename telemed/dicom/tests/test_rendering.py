"""Rendering: every transfer syntax family through pydicom's pixel plugins, the modality LUT,
windows and presets, MONOCHROME1, multi-frame, and clear refusals — through the real endpoint."""

import io

import numpy as np
import pydicom
import pytest
from django.urls import reverse
from PIL import Image

from telemed.audit.models import AuditEntry
from telemed.dicom import rendering
from telemed.dicom.models import Instance
from telemed.dicom.tests.conftest import TEST_FILES, dicom_bytes, with_new_uids

pytestmark = pytest.mark.django_db


def render(name: str, **kwargs) -> np.ndarray:
    with open(TEST_FILES / name, "rb") as source:
        return np.asarray(Image.open(io.BytesIO(rendering.render_png(source, **kwargs))))


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",  # RLE Lossless
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS Lossless
        "MR_small_jp2klossless.dcm",  # JPEG 2000 Lossless
        "MR_small_bigendian.dcm",  # Explicit VR Big Endian
        "MR_small_implicit.dcm",  # Implicit VR Little Endian
    ],
)
def test_lossless_syntaxes_render_exactly_like_the_uncompressed_image(name):
    reference = render("MR_small.dcm")
    assert reference.shape == (64, 64) and reference.std() > 20
    assert np.array_equal(render(name), reference)


@pytest.mark.parametrize(
    "name, shape",
    [
        ("SC_rgb_jpeg_dcmtk.dcm", (100, 100, 3)),  # JPEG Baseline (YBR_FULL)
        ("SC_rgb_jpeg_gdcm.dcm", (100, 100, 3)),  # JPEG Lossless, process 14 SV1
        ("JPEG2000.dcm", (1024, 256)),  # JPEG 2000 (lossy), 16-bit NM
        ("JPEGLSNearLossless_16.dcm", None),  # JPEG-LS near-lossless
        ("SC_rgb_rle.dcm", (100, 100, 3)),  # RLE colour
        ("image_dfl.dcm", None),  # Deflated Explicit VR Little Endian
        ("examples_palette.dcm", None),  # PALETTE COLOR
    ],
)
def test_each_compressed_family_renders(name, shape):
    pixels = render(name)
    if shape is not None:
        assert pixels.shape == shape
    assert pixels.std() > 1  # an image, not a flat field


def test_the_jpeg_baseline_colours_come_out_right():
    # The dcmtk JPEG of pydicom's RGB test pattern: its first band is red.
    pixels = render("SC_rgb_jpeg_dcmtk.dcm")
    red = pixels[5, 50].astype(int)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_a_window_clips_and_the_presets_are_hounsfield_windows():
    ds = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    hu = pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)
    narrow = render("CT_small.dcm", window=rendering.Window(float(np.median(hu)), 2))
    assert set(np.unique(narrow)) <= {0, 255} or len(np.unique(narrow)) <= 3
    bone = render("CT_small.dcm", window=rendering.PRESETS["bone"])
    soft = render("CT_small.dcm", window=rendering.PRESETS["soft"])
    assert not np.array_equal(bone, soft)
    # Soft tissue (40 ± 200 HU): anything at or above 240 HU is white.
    assert (soft[hu >= 240] == 255).all() and (soft[hu <= -160] == 0).all()


def test_monochrome1_is_shown_inverted(tmp_path):
    ds = pydicom.dcmread(TEST_FILES / "MR_small.dcm")
    ds.PhotometricInterpretation = "MONOCHROME1"
    path = tmp_path / "mono1.dcm"
    ds.save_as(path)
    with open(path, "rb") as source:
        inverted = np.asarray(Image.open(io.BytesIO(rendering.render_png(source))))
    difference = inverted.astype(int) - (255 - render("MR_small.dcm").astype(int))
    assert np.abs(difference).max() <= 1  # rounding


def test_min_max_is_the_fallback_without_a_window(tmp_path):
    ds = pydicom.dcmread(TEST_FILES / "MR_small.dcm")
    del ds.WindowCenter, ds.WindowWidth
    path = tmp_path / "no-window.dcm"
    ds.save_as(path)
    with open(path, "rb") as source:
        pixels = np.asarray(Image.open(io.BytesIO(rendering.render_png(source))))
    assert pixels.min() == 0 and pixels.max() == 255


def test_one_frame_of_a_multiframe_image_and_thumbnails():
    frame = render("examples_ybr_color.dcm", frame=29)
    assert frame.shape == (240, 320, 3)
    thumb = render("examples_ybr_color.dcm", frame=0, size=128)
    assert max(thumb.shape[:2]) == 128
    with pytest.raises(rendering.CannotRender):
        render("examples_ybr_color.dcm", frame=30)


def test_an_undecodable_image_is_refused_clearly():
    with pytest.raises(rendering.CannotRender):
        render("JPEG-lossy.dcm")  # 12-bit JPEG Extended: no installed plugin decodes it


def test_the_image_endpoint_renders_audits_once_per_series_and_refuses_bad_queries(importer, patient, run_tasks):
    importer.import_bytes(
        {
            "CD/A": dicom_bytes("CT_small.dcm"),
            "CD/B": with_new_uids("CT_small.dcm", InstanceNumber=2),
            "CD/C": dicom_bytes("JPEG-lossy.dcm"),
            "CD/D": dicom_bytes("examples_ybr_color.dcm"),
        },
        run_tasks,
    )
    client = importer.client
    first, second = Instance.objects.filter(sop_class_uid=pydicom.uid.CTImageStorage).order_by("number")
    url = reverse("dicom:instance_image", args=[first.pk])
    response = client.get(url, {"wc": "40", "ww": "400"})
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert Image.open(
        io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)
    ).size == (128, 128)
    assert client.get(url).status_code == 200  # the file's own window, cached on disk
    assert client.get(url).status_code == 200
    client.get(reverse("dicom:instance_image", args=[second.pk]))
    assert AuditEntry.objects.filter(action="view", target_type="dicom.series", patient=patient).count() == 1
    for bad in ({"frame": "x"}, {"wc": "40"}, {"ww": "-5", "wc": "1"}, {"size": "999"}, {"wc": "nan", "ww": "1"}):
        answer = client.get(url, bad)
        assert answer.status_code == 400 and answer.json()["error"], bad
    assert client.get(url, {"frame": "3"}).status_code == 404
    broken = Instance.objects.get(transfer_syntax_uid="1.2.840.10008.1.2.4.51")
    answer = client.get(reverse("dicom:instance_image", args=[broken.pk]))
    assert answer.status_code == 422 and "cannot be displayed" in answer.json()["error"]
    cine = Instance.objects.get(frames=30)
    stack = client.get(reverse("dicom:series_images", args=[cine.series_id])).json()
    assert len(stack["images"]) == 30 and stack["images"][29]["url"].endswith("frame=29")
    assert client.get(stack["images"][29]["url"]).status_code == 200
    thumbnail = client.get(reverse("dicom:series_thumbnail", args=[first.series_id]))
    assert thumbnail.status_code == 200
