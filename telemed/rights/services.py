"""The data export: asked on the page, built by a task into one ZIP, announced when ready.

The rules:
- An account asks for its export; one is prepared at a time (asking again while one is under
  way returns it). A new export replaces the previous one: its ZIP leaves the storage.
- The task writes every item of ``contents.items_of`` into a ZIP, streaming each stored file
  (never whole in memory), then ``index.json`` listing every item (type, id, date, title, path;
  for a file in a standard format, as the FHIR Bundle, its media type and what it is).
  Progress (items written of items to write) is on the export's row for the page.
- Run again (its worker died), the task builds the ZIP again from the start under the same
  storage key; run again once the export is ready, it changes nothing. The export becomes ready
  and its owner is notified in one transaction, once.
- A failure marks the export failed (the page says to ask again) and leaves no ZIP behind; a
  scratch file a killed build left in ``var/exports`` goes with the next build once a day old.
"""

import functools
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from telemed.accounts.models import User
from telemed.notifications.services import notify
from telemed.rights import contents, tasks
from telemed.rights.models import OPEN_STATES, DataExport, ExportState

logger = logging.getLogger(__name__)

NOTIFY_EXPORT_READY = "rights_export_ready"
INDEX_FORMAT = "telemed-export/1"
PROGRESS_EVERY = 10  # items between two progress updates


def export_storage_name(export: DataExport) -> str:
    return f"private/exports/{export.user_id}/{export.pk.hex}.zip"


def _remove_file(name: str) -> None:
    if name and default_storage.exists(name):
        default_storage.delete(name)


@transaction.atomic
def export_request(*, actor: User) -> tuple[DataExport, bool]:
    """Ask for the account's export; ``(export, created)``, the one under way if there is one."""
    if not actor.is_authenticated or not (actor.is_patient or actor.is_doctor):
        raise PermissionDenied
    User.objects.select_for_update().filter(pk=actor.pk).first()  # one request at a time per account
    open_export = DataExport.objects.filter(user=actor, state__in=OPEN_STATES).first()
    if open_export is not None:
        return open_export, False
    for previous in DataExport.objects.filter(user=actor):
        transaction.on_commit(functools.partial(_remove_file, previous.file_name))
        previous.delete()
    export = DataExport.objects.create(user=actor)
    tasks.export_build.enqueue(export_id=str(export.pk))
    return export, True


def _write_item(archive: zipfile.ZipFile, item: contents.Item) -> None:
    if item.content is not None:
        archive.writestr(item.path, item.content)
        return
    for path, stored in ((item.path, item.file), *item.parts) if item.file is not None else item.parts:
        with stored.open("rb") as source, archive.open(path, "w", force_zip64=True) as target:
            shutil.copyfileobj(source, target, 1024 * 1024)


def _index(export: DataExport, items: list[contents.Item]) -> bytes:
    user = export.user
    data = {
        "format": INDEX_FORMAT,
        "created_at": timezone.now().isoformat(),
        "account": {"email": user.email, "name": user.get_full_name(), "role": user.role},
        "items": [item.index_entry() for item in items],
    }
    return json.dumps(data, ensure_ascii=False, indent=2).encode()


def _progress(export: DataExport, done: int) -> None:
    DataExport.objects.filter(pk=export.pk).update(items_done=done)


def _build_zip(export: DataExport, path: str) -> None:
    items = list(contents.items_of(export.user))
    DataExport.objects.filter(pk=export.pk).update(items_total=len(items), items_done=0)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for done, item in enumerate(items, start=1):
            _write_item(archive, item)
            if done % PROGRESS_EVERY == 0:
                _progress(export, done)
        archive.writestr("index.json", _index(export, items))
    _progress(export, len(items))


SCRATCH_STALE_SECONDS = 24 * 3600


def _remove_stale_scratch(scratch_dir) -> None:
    """Scratch ZIPs a killed build left behind go with the next build, once a day old."""
    cutoff = time.time() - SCRATCH_STALE_SECONDS
    for entry in os.scandir(scratch_dir):
        if entry.is_file() and entry.stat().st_mtime < cutoff:
            os.unlink(entry.path)


def export_build(*, export_id: str) -> bool:
    """Run by the task: True when this run made the export ready."""
    export = DataExport.objects.select_related("user").filter(pk=export_id).first()
    if export is None or export.state not in OPEN_STATES:
        return False  # ready, failed or replaced: nothing to do
    DataExport.objects.filter(pk=export.pk).update(state=ExportState.RUNNING)
    name = export_storage_name(export)
    scratch_dir = settings.VAR_DIR / "exports"
    os.makedirs(scratch_dir, exist_ok=True)
    _remove_stale_scratch(scratch_dir)
    fd, path = tempfile.mkstemp(suffix=".zip", dir=scratch_dir)
    os.close(fd)
    try:
        _build_zip(export, path)
        _remove_file(name)  # a dead run's ZIP: this one replaces it
        with open(path, "rb") as built:
            stored = default_storage.save(name, File(built))
        size = os.path.getsize(path)
    except Exception:
        logger.exception("data export %s failed", export.pk)
        DataExport.objects.filter(pk=export.pk, state=ExportState.RUNNING).update(state=ExportState.FAILED)
        _remove_file(name)
        raise
    finally:
        os.unlink(path)
    with transaction.atomic():
        became_ready = DataExport.objects.filter(pk=export.pk, state=ExportState.RUNNING).update(
            state=ExportState.READY, file_name=stored, size=size, finished_at=timezone.now()
        )
        if became_ready:
            with override(export.user.language or "it"):
                notify(recipient=export.user, kind=NOTIFY_EXPORT_READY, title=_("Your data export is ready to download"),
                       url=reverse("rights:export"))  # fmt: skip
    return bool(became_ready)


def exports_purge(*, before) -> int:
    """Delete the exports made before ``before``, with their ZIPs (the retention rule): one that is
    still being built is left to finish."""
    old = DataExport.objects.filter(created_at__lt=before).exclude(state__in=OPEN_STATES)
    names = list(old.values_list("file_name", flat=True))
    deleted, _by_model = old.delete()
    for name in names:
        transaction.on_commit(functools.partial(_remove_file, name))
    return deleted
