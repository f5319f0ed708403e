"""Background work of audit: the daily retention purge."""

from django_tasks import task


@task(takes_context=True)
def audit_retention_purge_task(context) -> None:
    """One purge; it schedules the next one itself."""
    from telemed.audit.services import audit_retention_run

    audit_retention_run(task_id=str(context.task_result.id))
