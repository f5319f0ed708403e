"""An upload's parts in object storage: an S3 multipart upload, shared by every web process.

Rules and decisions:
- With object storage (``STORAGE_URL``) a resumable upload is an S3 multipart upload, opened
  when the upload starts, under the key its document will have. Each chunk is one UploadPart;
  its number, size and ETag go on the upload's row in the same conditional UPDATE that moves
  the offset; the last chunk completes it (CompleteMultipartUpload). What an upload has
  received lives in the bucket and the database, never on the disk of the web host that took
  a chunk, so consecutive chunks may reach different processes and hosts: no sticky routing.
- A chunk is spooled to a temporary file while it arrives, so that a truncated or damaged
  chunk never becomes a part.
- S3 refuses parts under 5 MiB except the last: every chunk but the last must be at least
  ``MIN_PART_BYTES`` (the page sends 8 MiB chunks).
- Two requests with the same chunk can race: both put the same part number, one moves the
  offset. Identical bytes have the same ETag; different ones make the completion fail (S3
  checks every ETag), so a wrong file is never filed.
- Without object storage (the embedded default) chunks go to a part file (uploads.py).
"""

import io
import sys

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as Refused
from django.core.files.storage import storages

MIN_PART_BYTES = 5 * 1024 * 1024
# The bucket said no, or could not be reached.
Unavailable = (Refused, BotoCoreError)
READ_BLOCK = 1024 * 1024


def in_object_storage() -> bool:
    """Whether the platform's files are in S3-protocol object storage (``STORAGE_URL``)."""
    default = storages["default"]
    # Making an S3 storage imported its module. Without one, importing it here would load
    # boto3 into the web process in the middle of the first upload, for nothing.
    s3 = sys.modules.get("storages.backends.s3")
    return s3 is not None and isinstance(default, s3.S3Storage)


def _client_and_key(name: str):
    storage = storages["default"]
    return storage.connection.meta.client, storage.bucket_name, storage._normalize_name(name)


def multipart_open(name: str) -> str:
    """Open a multipart upload for the object ``name`` (a storage name); its upload id."""
    client, bucket, key = _client_and_key(name)
    return client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]


def part_put(name: str, multipart_id: str, number: int, body, length: int) -> str:
    """Store one part (``body`` a seekable file of ``length`` bytes); its ETag."""
    client, bucket, key = _client_and_key(name)
    answer = client.upload_part(
        Bucket=bucket, Key=key, UploadId=multipart_id, PartNumber=number, Body=body, ContentLength=length
    )
    return answer["ETag"]


def multipart_complete(name: str, multipart_id: str, parts: list[dict]) -> None:
    client, bucket, key = _client_and_key(name)
    client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=multipart_id,
        MultipartUpload={"Parts": [{"PartNumber": part["number"], "ETag": part["etag"]} for part in parts]},
    )


def multipart_abort(name: str, multipart_id: str) -> None:
    """Give up the upload's parts; one already completed or aborted is left as it is."""
    client, bucket, key = _client_and_key(name)
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=multipart_id)
    except Refused:
        pass


def object_size(name: str) -> int:
    client, bucket, key = _client_and_key(name)
    return client.head_object(Bucket=bucket, Key=key)["ContentLength"]


class _ObjectRange(io.RawIOBase):
    """A stored object read by ranged GETs: seekable, nothing of it written to disk."""

    def __init__(self, name: str, size: int):
        self._client, self._bucket, self._key = _client_and_key(name)
        self._size, self._position = size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        if self._position >= self._size or not len(buffer):
            return 0
        end = min(self._position + len(buffer), self._size) - 1
        answer = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end}")
        data = answer["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def object_reader(name: str, size: int) -> io.BufferedReader:
    """The stored object ``name`` as a seekable binary file (sniffing, the digest of a completed upload)."""
    return io.BufferedReader(_ObjectRange(name, size), buffer_size=READ_BLOCK)


# --- operations of the bucket that the storage API lacks (the CD imports' staging: telemed/dicom/staging.py) ---


def object_put_new(name: str, body, length: int) -> bool:
    """Store ``body`` (bytes or a seekable file of ``length`` bytes) as the object ``name`` unless
    there is one already (a conditional write, ``If-None-Match: *``); False when there was."""
    client, bucket, key = _client_and_key(name)
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentLength=length, IfNoneMatch="*")
    except Refused as error:
        if error.response.get("Error", {}).get("Code") in {"PreconditionFailed", "ConditionalRequestConflict"}:
            return False
        raise
    return True


def object_put(name: str, body, length: int) -> None:
    client, bucket, key = _client_and_key(name)
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentLength=length)


def object_copy(source: str, target: str) -> None:
    """A copy made by the server (CopyObject): no byte passes through this process."""
    client, bucket, source_key = _client_and_key(source)
    _client, _bucket, target_key = _client_and_key(target)
    client.copy_object(Bucket=bucket, Key=target_key, CopySource={"Bucket": bucket, "Key": source_key})


def object_download(name: str, path) -> None:
    """The object ``name`` written to the local file ``path``."""
    client, bucket, key = _client_and_key(name)
    client.download_file(bucket, key, str(path))


def object_names_under(prefix: str) -> list[str]:
    """The names of the objects under ``prefix`` (a folder's), relative to it."""
    client, bucket, key_prefix = _client_and_key(prefix)
    key_prefix = key_prefix.rstrip("/") + "/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix)
    return [item["Key"][len(key_prefix) :] for page in pages for item in page.get("Contents", [])]


def objects_remove_under(prefix: str) -> None:
    """Every object whose name starts with ``prefix`` (a folder's, ending in ``/``) deleted, and
    every multipart upload begun under it aborted."""
    client, bucket, key_prefix = _client_and_key(prefix)
    key_prefix = key_prefix.rstrip("/") + "/"
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=key_prefix):
        for upload in page.get("Uploads", []):
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            except Refused:
                pass
