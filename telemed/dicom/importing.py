"""Reading a received CD into studies: the task's run (``cd_import_run``) over the staging.

It unpacks a ZIP after checking it, reads the DICOMDIR or scans the files, and stores every
instance it can, in batches of ``BATCH``: the file goes into storage, its rows are written and
its reserved bytes become used bytes in one transaction. A file whose header and digest were
read as it arrived (batches.py) is neither read nor hashed again. A run that starts again after
its worker died resumes where the dead run's last batch was committed.

The run reads a working copy of the staging (staging.py): the import's folder itself on the var
dir; with object storage a temporary folder of the worker's host, into which the staged files are
downloaded from the bucket, except those read as they arrived, which go from the staging prefix
to their storage name by a copy inside the bucket. The worker needs no file of the web hosts.
"""

import functools
import logging
import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone

from telemed.audit.models import AuditAction
from telemed.boxes import digests
from telemed.boxes import selectors as box_selectors
from telemed.boxes import services as box_services
from telemed.dicom import imports, reading, services, staging
from telemed.dicom.imports import QuotaExceeded
from telemed.dicom.models import (
    CdImport,
    DicomPatient,
    ImportedFile,
    ImportedStudy,
    ImportSkip,
    ImportState,
    Instance,
    Series,
    SkipReason,
    Study,
)

logger = logging.getLogger(__name__)

BATCH = 200


class _Interrupted(Exception):
    """A run that died where it cannot be resumed: the import fails cleanly instead."""


def cd_import_run(*, import_id: str, attempt: int = 1) -> CdImport | None:
    """Run by the task worker: read the staged CD and store its instances.

    An import found RUNNING was started by a run whose worker died (kill -9, host lost) and the
    task was given back (telemed/workers). It resumes: what that run stored (its rows and files
    committed together, batch by batch) stays and is not stored again, the report's skips are
    counted afresh, and a stored file left without its row is overwritten. It fails cleanly
    instead — reservation given back, staged files removed, the patient told on the import's
    page — when the run died while unpacking a ZIP, or when this is the task's last attempt
    (``TASK_MAX_ATTEMPTS``: the runs before it all died, maybe because of this very CD)."""
    cd_import = CdImport.objects.filter(pk=import_id).select_related("box__owner", "folder__patient", "owner").first()
    if cd_import is None:
        return None
    resuming = cd_import.state == ImportState.RUNNING
    if not resuming and not imports.import_transition(cd_import, ImportState.RUNNING):
        return None
    run = _CdRun(cd_import, resuming=resuming)
    try:
        if resuming and attempt >= settings.TASK_MAX_ATTEMPTS:
            raise _Interrupted("its last attempt")
        if resuming:
            run.restart()
        run.execute()
    except Exception as error:  # noqa: BLE001 - whatever breaks the import, it fails cleanly and says so
        logger.exception("CD import %s failed", cd_import.pk) if not isinstance(error, _Interrupted) else logger.error(
            "CD import %s stopped: interrupted (%s)", cd_import.pk, error
        )
        run.discard_moved()
        with transaction.atomic():
            run.skips.flush()
            imports.import_transition(cd_import, ImportState.FAILED, error="internal")
    finally:
        imports.give_back(cd_import)
    return cd_import


class _CdRun:
    """One run of the import task over the staged CD."""

    def __init__(self, cd_import: CdImport, *, resuming: bool = False):
        self.cd_import = cd_import
        self.resuming = resuming
        self.box = cd_import.box
        self.copy: staging.WorkingCopy
        self.root: Path
        self.skips = imports.ImportReport(cd_import)
        self.seen_uids: set[str] = set()
        self.patients: dict[tuple, DicomPatient] = {}
        self.studies: dict[str, Study] = {}
        self.series: dict[tuple, Series] = {}
        self.moved: list[str] = []
        # What the batches read as the files arrived (staged path → header, digest).
        self.read_before: dict[str, tuple[reading.Header, str]] = {}

    # -- reservations: the import's tally and the box move together, in one transaction each --

    def _reserve(self, size: int) -> None:
        with transaction.atomic():
            box_services.box_space_reserve(box=self.box, size=size)
            CdImport.objects.filter(pk=self.cd_import.pk).update(reserved_bytes=F("reserved_bytes") + size)

    def _release(self, size: int) -> None:
        with transaction.atomic():
            box_services.box_space_release(box=self.box, size=size)
            CdImport.objects.filter(pk=self.cd_import.pk).update(reserved_bytes=F("reserved_bytes") - size)

    def restart(self) -> None:
        """Before a resumed run: the scan starts over, so the skips it reported are forgotten."""
        with transaction.atomic():
            ImportSkip.objects.filter(cd_import=self.cd_import).delete()
            CdImport.objects.filter(pk=self.cd_import.pk).update(skipped_count=0, skipped_by_reason={})
        self.skips = imports.ImportReport(self.cd_import)

    def execute(self) -> None:
        files = list(self.cd_import.files.all().order_by("path"))
        with staging.area().working_copy(self.cd_import.pk, files) as copy:
            self.copy, self.root = copy, copy.root
            self._import(files)

    def _import(self, files: list[ImportedFile]) -> None:
        for entry in files:
            if entry.header and entry.digest and entry.received == entry.size:
                self.read_before[entry.path] = (reading.Header.from_json(entry.header), entry.digest)
            path = self.root.joinpath(*entry.path.split("/"))
            if self.resuming and self.copy.unpacking_began(entry.path):
                raise _Interrupted("it died while unpacking a ZIP")  # its reservations moved half-way
            if entry.received < entry.size:
                self.skips.add(entry.path, SkipReason.INCOMPLETE)
                path.unlink(missing_ok=True)
            elif entry.path not in self.read_before and staging.looks_like_zip(path):
                # (A file read as DICOM when it arrived is no ZIP: not opened again to ask.)
                self._unpack(entry, path)
        plan = reading.plan_import(self.root)
        for dicomdir in plan.unreadable_dicomdirs:
            self.skips.add(staging.name_on_cd(dicomdir), SkipReason.DICOMDIR)
        for candidate in plan.candidates:
            candidate.relative = staging.name_on_cd(candidate.relative)
        if plan.used_dicomdir:
            CdImport.objects.filter(pk=self.cd_import.pk).update(used_dicomdir=True)
        batch: list[tuple[reading.Candidate, reading.Header, int]] = []
        for candidate in plan.candidates:
            item = self._read(candidate)
            if item is not None:
                batch.append(item)
            if len(batch) >= BATCH:
                self._store(batch)
                batch = []
        self._store(batch)
        self._finish()

    def _unpack(self, entry: ImportedFile, path: Path) -> None:
        room = box_selectors.box_usage(self.box).free + entry.size
        target = staging.unpacked_dir(path)
        try:
            members, declared = staging.check_zip(path, room=room)
            self.copy.unpacking_begins(entry.path)
            # The ZIP itself is not kept: its reservation makes room for what it holds.
            self._release(entry.size)
            try:
                self._reserve(declared)
            except QuotaExceeded:
                raise staging.ZipRefused("zip_too_big") from None
            try:
                unpacked = staging.unpack_zip(path, target, members, declared)
            except staging.ZipRefused:
                self._release(declared)
                raise
            self._release(declared - unpacked.written)
            for name, reason in unpacked.skipped:
                self.skips.add(f"{entry.path}/{name}", reason)
        except staging.ZipRefused as refused:
            self.skips.add(entry.path, refused.code)
            shutil.rmtree(target, ignore_errors=True)
        finally:
            path.unlink(missing_ok=True)

    def _read(self, candidate: reading.Candidate):
        try:
            size = candidate.path.stat().st_size
        except OSError:
            return None
        if size == 0:
            self.skips.add(candidate.relative, SkipReason.EMPTY)
            return None
        try:
            header, _digest = self._read_before(candidate) or (reading.read_header(candidate.path), "")
        except reading.NotDicom:
            self.skips.add(candidate.relative, SkipReason.NOT_DICOM)
            return None
        except reading.Unusable as unusable:
            if unusable.code != "dicomdir":
                self.skips.add(candidate.relative, unusable.code)
            return None
        if header.sop_instance_uid in self.seen_uids:
            self.skips.add(candidate.relative, SkipReason.DUPLICATE_IN_CD)
            return None
        self.seen_uids.add(header.sop_instance_uid)
        return candidate, header, size

    def _store(self, batch) -> None:
        if not batch:
            with transaction.atomic():
                self.skips.flush()
            return
        uids = [header.sop_instance_uid for _c, header, _s in batch]
        existing = dict(
            Instance.objects.filter(box=self.box, sop_instance_uid__in=uids).values_list(
                "sop_instance_uid", "cd_import_id"
            )
        )
        ready: list[tuple[Instance, reading.Header]] = []
        for candidate, header, size in batch:
            if existing.get(header.sop_instance_uid, "") == self.cd_import.pk:
                continue  # stored by this import's run that died: already counted
            if header.sop_instance_uid in existing:
                self.skips.add(candidate.relative, SkipReason.DUPLICATE)
                continue
            instance = Instance(
                box=self.box, sop_instance_uid=header.sop_instance_uid, sop_class_uid=header.sop_class_uid,
                transfer_syntax_uid=header.transfer_syntax_uid, number=header.instance_number,
                slice_position=header.slice_position, rows=header.rows, columns=header.columns, frames=header.frames,
                photometric=header.photometric, size=size, path_on_cd=candidate.relative[:255], cd_import=self.cd_import,
                digest=self._digest(candidate),
            )  # fmt: skip
            instance.file.name = self._place(self._storage_name(header), candidate.path)
            self.moved.append(instance.file.name)
            ready.append((instance, header))
        try:
            self.copy.make_durable()  # the files' bytes and names on the disk before their rows
            with transaction.atomic():
                stored = self._write_rows(ready)
                self.skips.flush()
        except BaseException:
            self.discard_moved()
            raise
        self.moved = []
        del stored

    def _storage_name(self, header: reading.Header) -> str:
        # One name per (import, instance), derived so that a resumed run finds the file a dead
        # run stored without its row, and replaces it instead of leaving it behind. Like every
        # storage key it says nothing about the patient.
        name = f"private/dicom/{self.box.pk}/{uuid.uuid5(self.cd_import.pk, header.sop_instance_uid).hex}"
        if self.resuming and default_storage.exists(name):
            default_storage.delete(name)
        return name

    def _read_before(self, candidate: reading.Candidate) -> tuple[reading.Header, str] | None:
        """What was read of the file as it arrived, by the name it was received under."""
        received_as = self.copy.received_as(candidate.path)
        return self.read_before.get(received_as) if received_as is not None else None

    def _digest(self, candidate: reading.Candidate) -> str:
        before = self._read_before(candidate)
        return before[1] if before else digests.of_file(candidate.path)

    def _place(self, name: str, path: Path) -> str:
        """The staged file put into storage under ``name``: linked on the local disk, copied inside
        the bucket (staging.WorkingCopy.place), never moved."""
        return self.copy.place(path, name)

    def _write_rows(self, ready) -> list[Instance]:
        for instance, header in ready:
            instance.series = self._series_for(header)
        try:
            with transaction.atomic():
                Instance.objects.bulk_create([instance for instance, _h in ready])
                stored = [instance for instance, _h in ready]
        except IntegrityError:
            # Another import of the same CD got there first: one by one, keeping what is new.
            stored = []
            for instance, _header in ready:
                try:
                    with transaction.atomic():
                        instance.pk = None
                        instance.save(force_insert=True)
                    stored.append(instance)
                except IntegrityError:
                    self.skips.add(instance.path_on_cd, SkipReason.DUPLICATE)
                    if instance.file.name:
                        transaction.on_commit(functools.partial(default_storage.delete, instance.file.name))
        size = sum(instance.size for instance in stored)
        box_services.box_space_commit(box=self.box, size=size)
        CdImport.objects.filter(pk=self.cd_import.pk).update(
            reserved_bytes=F("reserved_bytes") - size, imported_count=F("imported_count") + len(stored),
            imported_bytes=F("imported_bytes") + size, last_activity_at=timezone.now(),
        )  # fmt: skip
        return stored

    def discard_moved(self) -> None:
        for name in self.moved:
            default_storage.delete(name)
        self.moved = []

    def _patient_for(self, header: reading.Header) -> DicomPatient:
        key = (header.patient_id, header.patient_name)
        if key not in self.patients:
            self.patients[key], _created = DicomPatient.objects.get_or_create(
                box=self.box, patient_id=header.patient_id, name=header.patient_name,
                defaults={"birth_date": header.patient_birth_date, "sex": header.patient_sex},
            )  # fmt: skip
        return self.patients[key]

    def _study_for(self, header: reading.Header) -> Study:
        uid = header.study_instance_uid
        if uid not in self.studies:
            study = Study.objects.filter(box=self.box, study_instance_uid=uid).first()
            if study is None:
                study = Study.objects.create(
                    box=self.box, folder=self.cd_import.folder, dicom_patient=self._patient_for(header),
                    study_instance_uid=uid, study_date=header.study_date, study_time=header.study_time,
                    description=header.study_description, accession_number=header.accession_number,
                    institution=header.institution, referring_physician=header.referring_physician,
                    imported_by=self.cd_import.owner,
                )  # fmt: skip
            self.studies[uid] = study
        return self.studies[uid]

    def _series_for(self, header: reading.Header) -> Series:
        study = self._study_for(header)
        key = (study.pk, header.series_instance_uid)
        if key not in self.series:
            self.series[key], _created = Series.objects.get_or_create(
                study=study, series_instance_uid=header.series_instance_uid,
                defaults={
                    "number": header.series_number, "modality": header.modality, "description": header.series_description,
                    "body_part": header.body_part, "series_date": header.series_date,
                },
            )  # fmt: skip
        return self.series[key]

    def _finish(self) -> None:
        # Counted from the rows, not from this run's tally: a resumed run counts what the run
        # before it stored too.
        per_study = (
            Instance.objects.filter(cd_import=self.cd_import)
            .order_by()
            .values_list("series__study")
            .annotate(n=Count("pk"))
        )
        with transaction.atomic():
            for study_id, count in per_study:
                study = Study.objects.select_related("box", "folder").get(pk=study_id)
                services.study_recount(study)
                ImportedStudy.objects.create(cd_import=self.cd_import, study=study, instances=count)
                services.study_audit(self.cd_import.owner, AuditAction.UPLOAD, study, study, None)
            self.skips.flush()
            imports.import_transition(self.cd_import, ImportState.DONE)
