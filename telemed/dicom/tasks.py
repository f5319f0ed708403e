"""Background work of the DICOM app: importing a CD, and cleaning up imports left half-sent."""

from django_tasks import task


@task(takes_context=True)
def cd_import_run(context, *, import_id: str) -> None:
    """Enqueued when the last file of a CD has arrived: read the CD and store its instances.
    Run again after its worker died, it resumes (telemed/workers gives it back)."""
    from telemed.dicom.importing import cd_import_run as run

    run(import_id=import_id, attempt=len(context.task_result.worker_ids))


@task()
def cd_import_expire(*, import_id: str) -> None:
    """Scheduled when an import starts; cancels it if left idle too long, else looks again later."""
    from telemed.dicom.receiving import cd_import_expire_if_idle

    cd_import_expire_if_idle(import_id=import_id)
