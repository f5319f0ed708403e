from django.conf import settings
from django.urls import reverse
from django_tasks import task

from telemed.accounts.tasks import send_templated_mail
from telemed.outbox.services import task_key


@task(takes_context=True)
def send_care_invitation(context, *, link_id: int) -> None:
    from telemed.care.models import CareLink, LinkStatus

    link = CareLink.objects.select_related("doctor").filter(pk=link_id, status=LinkStatus.INVITED).first()
    if link is None or not link.token:
        return
    send_templated_mail(
        to=link.invited_email,
        template="care/email/invitation",
        context={"link": link, "url": settings.BASE_URL + reverse("care:join", args=[link.token])},
        language=link.doctor.language,
        key=task_key(context),
    )
