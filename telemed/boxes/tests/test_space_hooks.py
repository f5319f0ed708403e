"""The public space hooks other apps use for files they keep themselves (the DICOM instances of a CD)."""

import pytest

from telemed.boxes import selectors, services
from telemed.boxes.models import Box

pytestmark = pytest.mark.django_db


def test_reserve_commit_release_and_free_keep_the_quota_exact(patient):
    box = services.box_for(patient)
    quota = services.box_settings().free_quota_bytes
    services.box_space_reserve(box=box, size=1000)
    services.box_space_commit(box=box, size=600)
    services.box_space_release(box=box, size=400)
    box.refresh_from_db()
    assert (box.used_bytes, box.reserved_bytes) == (600, 0)
    services.box_space_free(box=box, size=600)
    box.refresh_from_db()
    assert (box.used_bytes, box.reserved_bytes) == (0, 0)
    with pytest.raises(services.QuotaExceeded):
        services.box_space_reserve(box=box, size=quota + 1)
    box.refresh_from_db()
    assert box.reserved_bytes == 0


def test_bytes_never_reserved_cannot_be_committed(patient):
    box = services.box_for(patient)
    with pytest.raises(ValueError):
        services.box_space_commit(box=box, size=10)
    with pytest.raises(ValueError):
        services.box_space_reserve(box=box, size=-1)
    assert Box.objects.get(pk=box.pk).used_bytes == 0


def test_folders_shared_with_a_doctor(patient, doctor, make_doctor):
    folder = services.folder_create(actor=patient, name="Radiologia")
    services.folder_create(actor=patient, name="Privato")
    services.folder_share(actor=patient, folder=folder, doctor=doctor)
    assert list(selectors.folders_shared_with(doctor)) == [folder]
    assert not selectors.folders_shared_with(make_doctor()).exists()
    assert not selectors.folders_shared_with(patient).exists()
