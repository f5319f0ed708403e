"""Background work of the data rights: building an export."""

from django_tasks import task


@task()
def export_build(*, export_id: str) -> None:
    """Enqueued with the export; builds its ZIP (again from the start if a worker died meanwhile)."""
    from telemed.rights.services import export_build as build

    build(export_id=export_id)
