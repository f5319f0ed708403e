"""Background work of the boxes: removing uploads that were started and never finished, and files
written for a document that was never filed."""

from django_tasks import task


@task()
def upload_expire(*, upload_id: str) -> None:
    """Scheduled when an upload starts; expires it if idle too long, else looks again later."""
    from telemed.boxes.uploads import upload_expire_if_idle

    upload_expire_if_idle(upload_id=upload_id)


@task()
def staged_file_expire(*, staged_id: str) -> None:
    """Scheduled when a document is staged; gives back what it holds if it was never filed."""
    from telemed.boxes.services import staged_file_expire as expire

    expire(staged_id=staged_id)
