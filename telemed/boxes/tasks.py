"""Background work of the boxes: removing uploads that were started and never finished."""

from django_tasks import task


@task()
def upload_expire(*, upload_id: str) -> None:
    """Scheduled when an upload starts; expires it if idle too long, else looks again later."""
    from telemed.boxes.services import upload_expire_if_idle

    upload_expire_if_idle(upload_id=upload_id)
