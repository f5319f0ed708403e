"""Restore a backup into a new database and an empty media folder or bucket, then check it."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from telemed.backups import services


class Command(BaseCommand):
    help = (
        "Restore a backup folder into a new, empty database (--database-url) and an empty storage "
        "(--media-root or --storage-url), then check documents' digests, the ledger, invoice numbering "
        "and the audit trail. Exits 1 if any check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="the backup folder written by `manage.py backup`")
        parser.add_argument("--database-url", required=True, help="the new database (postgres://… or sqlite:///…)")
        parser.add_argument("--media-root", default="", help="an empty folder for the stored files")
        parser.add_argument("--storage-url", default="", help="an empty bucket (s3://KEY:SECRET@host:port/bucket)")

    def handle(self, *args, directory, database_url, media_root, storage_url, **options):
        try:
            storage = services.media_storage(media_root=media_root, storage_url=storage_url)
            report = services.backup_restore(directory=Path(directory), database_url=database_url, storage=storage)
        except services.BackupError as error:
            raise CommandError(f"Restore failed: {error}") from error
        for check in report.checks:
            self.stdout.write(check.line())
        if not report.restored:
            raise CommandError("Restore refused: the backup does not match its manifest; nothing was restored.")
        if not report.ok:
            raise CommandError("Restore done, but checks failed: do not use the restored data before finding why.")
        self.stdout.write(self.style.SUCCESS("Restore OK: every check passed."))
