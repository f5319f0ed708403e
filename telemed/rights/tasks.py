"""Background work of the data rights: building an export, the erasure of an account and its
e-mails, the retention sweep."""

from django.conf import settings
from django.urls import reverse
from django_tasks import task


@task()
def export_build(*, export_id: str) -> None:
    """Enqueued with the export; builds its ZIP (again from the start if a worker died meanwhile)."""
    from telemed.rights.services import export_build as build

    build(export_id=export_id)


@task(takes_context=True)
def send_erasure_confirmation(context, *, erasure_id: str) -> None:
    """The link that confirms the deletion of the account, mailed to the account (once per run)."""
    from telemed.accounts.tasks import send_templated_mail
    from telemed.outbox.services import task_key
    from telemed.rights.erasure import CONFIRM_MAX_AGE, confirm_url
    from telemed.rights.models import ErasureRequest, ErasureState

    erasure = ErasureRequest.objects.select_related("user").filter(pk=erasure_id, state=ErasureState.ASKED).first()
    if erasure is None or not erasure.user.is_active:
        return  # confirmed, cancelled or carried out meanwhile: nothing to send
    send_templated_mail(
        to=erasure.user.email,
        template="rights/email/erasure_confirm",
        context={"user": erasure.user, "link": confirm_url(erasure), "valid_days": CONFIRM_MAX_AGE.days},
        language=erasure.user.language,
        key=task_key(context),
    )


@task()
def send_doctor_leaving_notice(*, erasure_id: str) -> None:
    """Every patient linked to a doctor who confirmed the deletion of their account is told by
    e-mail, once per patient however often the task runs."""
    from telemed.accounts.tasks import send_templated_mail
    from telemed.care.selectors import linked_patients
    from telemed.rights.models import ErasureRequest, ErasureState

    erasure = ErasureRequest.objects.select_related("user").filter(pk=erasure_id).first()
    if erasure is None or erasure.state != ErasureState.SCHEDULED:
        return  # cancelled meanwhile, or carried out already
    doctor = erasure.user
    for patient in linked_patients(doctor):
        send_templated_mail(
            to=patient.email,
            template="rights/email/doctor_leaving",
            context={
                "patient": patient,
                "doctor": doctor,
                "due_at": erasure.due_at,
                "box_url": settings.BASE_URL + reverse("boxes:home"),
            },
            language=patient.language,
            key=f"doctor-leaving:{erasure.pk}:{patient.pk}",
        )


@task()
def account_erase(*, erasure_id: str) -> None:
    """Scheduled at the end of the grace period; erases the account unless it was cancelled."""
    from telemed.rights.erasure import erasure_run

    erasure_run(erasure_id=erasure_id)


@task(takes_context=True)
def retention_sweep(context) -> None:
    """One sweep of every retention rule; it schedules the next one itself."""
    from telemed.rights.retention import retention_run

    retention_run(task_id=str(context.task_result.id))
