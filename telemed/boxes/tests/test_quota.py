"""Quota: refused before any byte, exact accounting, freed at once, raised by billing, never exceeded under races."""

import threading

import blake3
import pytest
from django.db import connection, connections
from django.urls import reverse

from telemed.boxes import selectors, services, uploads
from telemed.boxes.models import GIB, Box, BoxSettings, Document, QuotaRaise, UploadSession
from telemed.boxes.tests.conftest import pdf_bytes


def fill_box(user, free_left: int) -> Box:
    """Make the box look nearly full: ``free_left`` bytes of the quota remain."""
    box = services.box_for(user)
    Box.objects.filter(pk=box.pk).update(used_bytes=services.box_settings().free_quota_bytes - free_left)
    box.refresh_from_db()
    return box


@pytest.mark.django_db
def test_every_doctor_and_patient_gets_a_box_of_the_right_kind(patient, doctor, make_patient):
    assert services.box_for(patient).kind == "welbox"
    assert services.box_for(doctor).kind == "medbox"
    assert services.box_for(patient) == services.box_for(patient)
    usage = selectors.box_usage(services.box_for(patient))
    assert usage.quota == GIB and usage.free == GIB


@pytest.mark.django_db
def test_an_upload_that_would_exceed_the_quota_is_refused_before_any_byte(uploader, patient):
    box = fill_box(patient, free_left=1000)
    response = uploader.start("big.pdf", 1001)
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "quota" and body["free"] == 1000 and body["needed"] == 1001
    assert "Delete files you no longer need, or buy more space." in body["error"]
    assert body["delete_url"] == reverse("boxes:space") and body["buy_url"].endswith("#more-space")
    box.refresh_from_db()
    assert box.reserved_bytes == 0 and not UploadSession.objects.exists()
    assert not (services.scratch_dir()).exists() or not list(services.scratch_dir().iterdir())
    # Exactly what is left still fits.
    assert uploader.start("fits.txt", 1000).status_code == 201


@pytest.mark.django_db
def test_the_box_page_always_shows_the_usage_bar_and_the_way_to_more_space(patient_client, patient):
    fill_box(patient, free_left=GIB // 20)
    page = patient_client.get(reverse("boxes:home")).content.decode()
    assert "<meter" in page and 'data-testid="box-usage"' in page
    assert reverse("boxes:space") in page
    space = patient_client.get(reverse("boxes:space")).content.decode()
    assert 'id="more-space"' in space and "Delete files" in space


@pytest.mark.django_db
def test_deleting_frees_the_space_at_once(uploader, patient_client, patient, django_capture_on_commit_callbacks):
    content = pdf_bytes()
    uploader.upload("a.pdf", content)
    document = Document.objects.get()
    stored = document.file.path
    assert Box.objects.get(owner=patient).used_bytes == len(content)
    with django_capture_on_commit_callbacks(execute=True):
        response = patient_client.post(reverse("boxes:document_delete", args=[document.pk]))
    assert response.status_code == 302
    assert Box.objects.get(owner=patient).used_bytes == 0
    assert not Document.objects.exists()
    import os

    assert not os.path.exists(stored)


@pytest.mark.django_db
def test_billing_raises_the_quota_and_staff_set_the_free_space(uploader, patient):
    box = fill_box(patient, free_left=0)
    assert uploader.start("a.txt", 10).status_code == 413
    services.box_quota_raise(box=box, extra_bytes=5 * GIB, reason="storage purchase #12")
    assert selectors.box_usage(box).quota == 6 * GIB
    assert QuotaRaise.objects.get().reason == "storage purchase #12"
    assert uploader.start("a.txt", 10).status_code == 201
    with pytest.raises(Exception, match="positive"):
        services.box_quota_raise(box=box, extra_bytes=0, reason="nothing")
    BoxSettings.objects.update(free_quota_bytes=2 * GIB)
    assert selectors.box_usage(box).quota == 7 * GIB


@pytest.mark.django_db
def test_platform_documents_do_not_count_against_the_quota(patient):
    import io

    box = fill_box(patient, free_left=0)
    content = pdf_bytes("Referto firmato")
    document = services.document_store_system(
        box=box, category="report", name="Referto firmato.pdf", stream=io.BytesIO(content), mime="application/pdf"
    )
    box.refresh_from_db()
    assert document.counts_against_quota is False and box.system_bytes == len(content)
    assert box.used_bytes == services.box_settings().free_quota_bytes
    assert document.digest == blake3.blake3(content).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_uploads_never_exceed_the_quota(patient):
    """Twenty uploads at once, each on its own database connection, at a box with room for seven."""
    size = 1_000_000
    box = fill_box(patient, free_left=7 * size + size // 2)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def upload():
        try:
            barrier.wait(timeout=30)
            uploads.upload_start(actor=patient, name="scan.zip", size=size)
            outcomes.append("reserved")
        except services.QuotaExceeded:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=upload) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    box.refresh_from_db()
    assert sorted(outcomes) == ["refused"] * 13 + ["reserved"] * 7, outcomes
    assert box.reserved_bytes == 7 * size
    assert box.used_bytes + box.reserved_bytes <= services.box_settings().free_quota_bytes
    assert UploadSession.objects.count() == 7
    assert connection.vendor in {"postgresql", "sqlite"}
