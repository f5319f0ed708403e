"""Background work of reports: delivering what was signed."""

from django_tasks import task


@task()
def deliver_signed_report(*, report_id: int) -> None:
    from telemed.reports.delivery import deliver

    deliver(report_id=report_id)
