"""The default storage on the local disk: Django's FileSystemStorage, except that a save returns
only once the file and its name are on the disk (telemed/lib/durable.py says why). With
object storage (``STORAGE_URL``) the bucket's own answer means as much."""

import os

from django.core.files.storage import FileSystemStorage

from telemed.lib import durable


class DurableFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        name = super()._save(name, content)
        path = self.path(name)
        durable.flush_file(path)
        durable.flush_directory(os.path.dirname(path))
        return name
