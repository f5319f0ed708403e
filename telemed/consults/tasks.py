"""Background and scheduled work of consults: deadline reminders, expiry, the Info rejection e-mail.

Every task is enqueued in the transaction that caused it and checks the state again when it
runs: a consult answered meanwhile makes the reminder a no-op.
"""

from django_tasks import task


@task(takes_context=True)
def remind_doctor(context, *, consult_id: int) -> None:
    from telemed.consults.deadlines import consult_remind_doctor
    from telemed.outbox.services import task_key

    consult_remind_doctor(consult_id=consult_id, key=task_key(context))


@task()
def deadline_passed(*, consult_id: int) -> None:
    from telemed.consults.deadlines import consult_deadline_passed

    consult_deadline_passed(consult_id=consult_id)


@task()
def expire_if_untouched(*, consult_id: int) -> None:
    from telemed.consults.deadlines import consult_expire

    consult_expire(consult_id=consult_id)


@task(takes_context=True)
def send_info_rejected(context, *, info_id: int) -> None:
    from telemed.accounts.tasks import send_templated_mail
    from telemed.consults.info_requests import info_reformulation_link
    from telemed.consults.models import InfoRequest
    from telemed.outbox.services import task_key

    info = InfoRequest.objects.select_related("doctor__user", "patient").filter(pk=info_id, status="rejected").first()
    if info is None:
        return
    send_templated_mail(
        to=info.patient.email,
        template="consults/email/info_rejected",
        context={
            "info": info,
            "patient": info.patient,
            "doctor": info.doctor.user,
            "link": info_reformulation_link(info),
        },
        language=info.patient.language,
        key=task_key(context),
    )
