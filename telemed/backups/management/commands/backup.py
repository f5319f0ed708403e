"""Back up the platform: a consistent database dump and a copy of every stored file it refers to."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from telemed.backups import services


class Command(BaseCommand):
    help = (
        "Write a consistent backup into a new folder: the database (pg_dump of one snapshot, or SQLite's "
        "online backup), every stored file the snapshot refers to, and a manifest (path, size, SHA-256)."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="a new (or empty) folder for the backup")

    def handle(self, *args, directory, **options):
        try:
            summary = services.backup_create(directory=Path(directory))
        except services.BackupError as error:
            raise CommandError(f"Backup failed: {error}") from error
        self.stdout.write(
            f"Backup written to {summary.directory}: {summary.engine} database, "
            f"{summary.files} files ({summary.bytes} bytes)."
        )
        for missing in summary.optional_missing:
            self.stdout.write(f"  not copied (transient, already gone): {missing}")
