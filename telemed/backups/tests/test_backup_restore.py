"""Backup and restore on the stack the tests run on (PostgreSQL: pg_dump of a snapshot, restored into
a database created for the test; SQLite: the online backup API, restored into a new file), with
documents and their files, a paid and invoiced consult and audit entries; then the restore's checks,
and the ways they fail."""

import hashlib
import io
import json
import os
import subprocess
import sys
import time

import psycopg
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from conftest import ROOT, database_url_for_subprocesses
from telemed.accounts.models import User
from telemed.audit.models import AuditAction
from telemed.backups import database
from telemed.backups.tests.flows import consult_paid
from telemed.billing.invoices import invoice_pdf_ensure
from telemed.billing.models import Invoice, InvoiceCounter
from telemed.boxes import services as boxes
from telemed.boxes.models import Document
from telemed.portal.management.commands.load_demo import demo_pdf

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def restore_database_url(tmp_path):
    """The URL of a new, empty database for the restore, removed after the test."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    base = database_url_for_subprocesses().rsplit("/", 1)[0]
    name = f"{connection.settings_dict['NAME'].removeprefix('test_')}_restore"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def platform_data(files_in_tmp, make_doctor, make_patient):
    """Two documents in a patient's Welbox (one read: an audit entry), two paid consults with their
    invoices (one with its PDF), and a file in the storage that no row refers to."""
    doctor, patient = make_doctor().doctor_profile, make_patient()
    staff = User.objects.create_superuser("staff-backup@example.test", "a-Long-enough-passw0rd")
    box = boxes.box_for(patient)
    documents = [
        boxes.document_store(actor=patient, box=box, category="other", name=f"referto-{n}.pdf",
                             stream=io.BytesIO(demo_pdf(f"Referto {n}").getvalue()), mime="application/pdf")
        for n in (1, 2)
    ]  # fmt: skip
    boxes.document_opened(actor=patient, document=documents[0], action=AuditAction.VIEW, request=None)
    invoices = [consult_paid(doctor=doctor, patient=patient, staff=staff) for _ in range(2)]
    invoice_pdf_ensure(invoice=invoices[0])
    orphan = default_storage.save("private/boxes/orphan", ContentFile(b"no row refers to me"))
    return {"doctor": doctor, "patient": patient, "staff": staff, "documents": documents, "orphan": orphan}


def _restore(backup, database_url, media_root) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("restore", str(backup), database_url=database_url, media_root=str(media_root), stdout=out,
                     stderr=err)  # fmt: skip
    except CommandError as error:
        return 1, out.getvalue() + str(error)
    return 0, out.getvalue()


def test_a_backup_restores_into_a_new_database_and_media_folder_and_passes_every_check(
    platform_data, restore_database_url, tmp_path
):
    backup = tmp_path / "backup"
    out = io.StringIO()
    call_command("backup", str(backup), stdout=out)
    manifest = json.loads((backup / "manifest.json").read_text())
    paths = {entry["path"] for entry in manifest["files"]}
    for document in platform_data["documents"]:
        assert document.file.name in paths
    assert Invoice.objects.get(number=1).pdf.name in paths
    assert platform_data["orphan"] not in paths  # only what the snapshot refers to
    assert manifest["figures"]["invoices"] == [
        {"doctor": platform_data["doctor"].pk, "kind": "invoice", "year": Invoice.objects.get(number=1).year, "last": 2}
    ]
    assert manifest["figures"]["audit"]["entries"] >= 1

    media = tmp_path / "restored-media"
    code, output = _restore(backup, restore_database_url, media)

    assert code == 0, output
    for name in ("documents (recorded digests): 2 checked", "ledger", "invoice numbering: 1 checked", "audit trail"):
        assert f"OK   {name}" in output, output
    assert "Restore OK" in output
    with database.opened(restore_database_url) as alias:
        assert Document.objects.using(alias).count() == 2
        assert InvoiceCounter.objects.using(alias).get().last_number == 2
    document = platform_data["documents"][1]
    assert (media / document.file.name).read_bytes() == document.file.open("rb").read()

    # The restored platform issues the next invoice as number 3: the series goes on without a gap.
    script = (
        "from telemed.accounts.models import User, DoctorProfile\n"
        "from telemed.backups.tests.flows import consult_paid\n"
        f"invoice = consult_paid(doctor=DoctorProfile.objects.get(pk={platform_data['doctor'].pk}), "
        f"patient=User.objects.get(pk={platform_data['patient'].pk}), staff=User.objects.get(pk={platform_data['staff'].pk}))\n"
        "print('NEXT', invoice.number)\n"
    )
    env = {**os.environ, "DATABASE_URL": restore_database_url, "DATABASE_POOL": "false",
           "TELEMED_VAR_DIR": str(tmp_path / "restored-var")}  # fmt: skip
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "NEXT 3" in done.stdout


def test_a_file_changed_in_the_backup_is_found_and_nothing_is_restored(platform_data, restore_database_url, tmp_path):
    backup = tmp_path / "backup"
    call_command("backup", str(backup), stdout=io.StringIO())
    name = platform_data["documents"][0].file.name
    tampered = backup / "files" / name
    tampered.write_bytes(tampered.read_bytes()[:-1] + b"!")

    code, output = _restore(backup, restore_database_url, tmp_path / "restored-media")

    assert code == 1
    assert "FAIL backup copy (manifest)" in output
    assert f"{name}: SHA-256 differs from the manifest" in output
    assert "nothing was restored" in output
    assert not (tmp_path / "restored-media").exists()
    with database.opened(restore_database_url) as alias:
        assert "boxes_document" not in connection_tables(alias)


def test_a_file_changed_with_its_manifest_entry_fails_the_documents_check(
    platform_data, restore_database_url, tmp_path
):
    """The manifest is no proof by itself: the digest the database recorded as the file arrived is."""
    backup = tmp_path / "backup"
    call_command("backup", str(backup), stdout=io.StringIO())
    document = platform_data["documents"][0]
    tampered = backup / "files" / document.file.name
    tampered.write_bytes(tampered.read_bytes().replace(b"Referto 1", b"Referto 9"))
    manifest = json.loads((backup / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["path"] == document.file.name:
            entry["sha256"] = hashlib.sha256(tampered.read_bytes()).hexdigest()
    (backup / "manifest.json").write_text(json.dumps(manifest))

    code, output = _restore(backup, restore_database_url, tmp_path / "restored-media")

    assert code == 1
    assert "OK   backup copy (manifest)" in output
    assert "FAIL documents (recorded digests): 2 checked, 1 wrong" in output
    assert f"boxes.Document {document.pk} ({document.file.name}): blake3" in output
    assert "checks failed" in output


def test_a_restore_refuses_a_database_that_is_not_empty(platform_data, tmp_path):
    backup = tmp_path / "backup"
    call_command("backup", str(backup), stdout=io.StringIO())
    code, output = _restore(backup, database_url_for_subprocesses(), tmp_path / "restored-media")
    assert code == 1
    assert "a restore goes into a new" in output
    code, output = _restore(backup, "mysql://root@127.0.0.1/telemed", tmp_path / "restored-media")
    assert code == 1
    assert "backups support PostgreSQL and SQLite, not django.db.backends.mysql" in output


def test_a_backup_fails_when_a_file_the_database_refers_to_is_missing(platform_data, tmp_path):
    document = platform_data["documents"][1]
    default_storage.delete(document.file.name)
    with pytest.raises(CommandError, match=f"boxes.Document {document.pk}: {document.file.name}"):
        call_command("backup", str(tmp_path / "backup"), stdout=io.StringIO())


def connection_tables(alias) -> list[str]:
    from django.db import connections

    return connections[alias].introspection.table_names()


@pytest.fixture
def s3_buckets(files_in_tmp, settings):
    """moto's S3 server on a loopback port, two buckets: the platform's storage ("live", made the
    default storage) and an empty one for the restore. Yields the URL of the empty one."""
    import boto3

    from conftest import free_port, process_stop
    from telemed.settings import storage_from_url

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="test",
                              aws_secret_access_key="test", region_name="us-east-1")  # fmt: skip
        for attempt in range(200):
            try:
                client.list_buckets()
                break
            except Exception:
                if attempt == 199:
                    raise
                time.sleep(0.1)
        for bucket in ("live", "restored"):
            client.create_bucket(Bucket=bucket)
        url = f"s3+http://test:test@127.0.0.1:{port}/%s?region=us-east-1"
        settings.STORAGES = {**settings.STORAGES, "default": storage_from_url(url % "live")}
        yield url % "restored"
    finally:
        process_stop(server)


def test_a_backup_of_a_bucket_restores_into_a_new_bucket(s3_buckets, platform_data, restore_database_url, tmp_path):
    assert type(default_storage._wrapped).__name__ == "S3Storage"  # the live files are in the bucket
    backup = tmp_path / "backup"
    call_command("backup", str(backup), stdout=io.StringIO())
    out = io.StringIO()

    call_command("restore", str(backup), database_url=restore_database_url, storage_url=s3_buckets, stdout=out)

    assert "OK   documents (recorded digests): 2 checked" in out.getvalue()
    assert "Restore OK" in out.getvalue()
    from telemed.backups.services import media_storage

    restored = media_storage(storage_url=s3_buckets)
    document = platform_data["documents"][0]
    assert restored.open(document.file.name, "rb").read() == document.file.open("rb").read()
    assert not restored.exists(platform_data["orphan"])


def test_a_document_filed_after_the_snapshot_is_in_neither_the_dump_nor_the_copy(
    platform_data, files_in_tmp, restore_database_url, tmp_path, monkeypatch
):
    """Another process files a document while the backup runs, once the snapshot is taken: its row
    is not in the dump and its file is not copied, and the restore's checks hold."""
    from telemed.backups import verification

    script = (
        "import io\n"
        "from telemed.accounts.models import User\n"
        "from telemed.boxes import services\n"
        "from telemed.portal.management.commands.load_demo import demo_pdf\n"
        f"patient = User.objects.get(pk={platform_data['patient'].pk})\n"
        "document = services.document_store(actor=patient, box=services.box_for(patient), category='other', "
        "name='late.pdf', stream=io.BytesIO(demo_pdf('Late').getvalue()), mime='application/pdf')\n"
        "print('LATE', document.file.name)\n"
    )
    env = {**os.environ, "DATABASE_URL": database_url_for_subprocesses(), "DATABASE_POOL": "false",
           "TELEMED_VAR_DIR": str(files_in_tmp)}  # fmt: skip
    late = []
    figures = verification.figures

    def figures_after_a_late_document(using):
        done = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        late.append(done.stdout.split("LATE ", 1)[1].strip())
        return figures(using)

    monkeypatch.setattr(verification, "figures", figures_after_a_late_document)
    backup = tmp_path / "backup"
    call_command("backup", str(backup), stdout=io.StringIO())

    assert default_storage.exists(late[0]) and Document.objects.count() == 3  # filed in the live platform
    manifest = json.loads((backup / "manifest.json").read_text())
    assert late[0] not in {entry["path"] for entry in manifest["files"]}
    code, output = _restore(backup, restore_database_url, tmp_path / "restored-media")
    assert code == 0, output
    with database.opened(restore_database_url) as alias:
        assert Document.objects.using(alias).count() == 2


def test_the_checks_name_a_broken_ledger_a_gap_in_the_invoice_numbers_and_a_lost_audit_entry(
    platform_data, restore_database_url, tmp_path
):
    from django.db import connections

    from telemed.backups import verification
    from telemed.billing.models import LedgerEntry

    backup = tmp_path / "backup"
    call_command("backup", str(backup), stdout=io.StringIO())
    assert _restore(backup, restore_database_url, tmp_path / "restored-media")[0] == 0
    figures = json.loads((backup / "manifest.json").read_text())["figures"]
    with database.opened(restore_database_url) as alias:
        entry = LedgerEntry.objects.using(alias).filter(account="doctor").first()
        with connections[alias].cursor() as cursor:  # what no service would do: rows changed behind its back
            cursor.execute("UPDATE billing_ledgerentry SET amount = amount + 1 WHERE id = %s", [entry.pk])
            cursor.execute("UPDATE billing_invoicecounter SET last_number = 5")
            cursor.execute("DELETE FROM audit_auditentry WHERE id = (SELECT max(id) FROM audit_auditentry)")

        ledger = verification.ledger(alias, figures["ledger"])
        numbering = verification.invoice_numbering(alias, figures["invoices"])
        audit = verification.audit_trail(alias, figures["audit"])

    assert f"journal {entry.journal} sums to 1.00" in ledger.problems
    assert "the ledger sums to 1.00, not 0" in ledger.problems
    doctor = platform_data["doctor"].pk
    year = Invoice.objects.get(number=1).year
    assert ledger.line().startswith("FAIL ledger")
    assert numbering.problems[0] == (
        f"doctor {doctor} invoice {year}: counter at 5, highest number 2: the next number would not be 3"
    )
    assert audit.problems == [
        f"{figures['audit']['entries'] - 1} entries, the backup had {figures['audit']['entries']}"
    ]
