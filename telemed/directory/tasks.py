"""Background work of the directory: the periodic sweep that keeps the search entries fresh."""

from django_tasks import task


@task()
def directory_sweep(*, token: str) -> None:
    """One sweep; it schedules the next itself (``services.directory_sweep_run``)."""
    from telemed.directory.services import directory_sweep_run

    directory_sweep_run(token=token)
