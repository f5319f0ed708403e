"""Background work of accounts: the e-mails that registration and invitations send."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django_tasks import task

from telemed.outbox.services import email_send_once, task_key


def send_templated_mail(*, to: str, template: str, context: dict, language: str, key: str) -> None:
    """Render ``<template>_subject.txt`` and ``<template>_body.txt`` in the recipient's language and
    send, once for ``key`` (telemed/outbox)."""
    with translation.override(language):
        context = {**context, "base_url": settings.BASE_URL}
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        body = render_to_string(f"{template}_body.txt", context)
    email_send_once(key=key, message=EmailMultiAlternatives(subject=subject, body=body, to=[to]))


@task(takes_context=True)
def send_email_verification(context, *, user_id: int) -> None:
    from telemed.accounts.models import User
    from telemed.accounts.services import email_verification_token

    user = User.objects.filter(pk=user_id, email_verified_at__isnull=True).first()
    if user is None:
        return  # verified meanwhile, or deleted: nothing to send
    link = settings.BASE_URL + reverse("accounts:verify_email", args=[email_verification_token(user)])
    send_templated_mail(
        to=user.email,
        template="accounts/email/verify",
        context={"user": user, "link": link},
        language=user.language,
        key=task_key(context),
    )


@task(takes_context=True)
def send_invitation(context, *, invitation_id: int) -> None:
    from telemed.accounts.models import Invitation

    invitation = (
        Invitation.objects.select_related("invited_by", "doctor__user", "structure").filter(pk=invitation_id).first()
    )
    if invitation is None or not invitation.is_open:
        return
    link = settings.BASE_URL + reverse("accounts:invitation", args=[invitation.token])
    send_templated_mail(
        to=invitation.email,
        template=f"accounts/email/invitation_{invitation.kind}",
        context={"invitation": invitation, "link": link},
        language=invitation.invited_by.language,
        key=task_key(context),
    )


@task(takes_context=True)
def send_password_reset(context, *, user_id: int) -> None:
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from telemed.accounts.models import User

    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    # The token is derived from the password hash and last login: it dies once used.
    link = settings.BASE_URL + reverse(
        "accounts:password_reset_confirm",
        args=[urlsafe_base64_encode(force_bytes(user.pk)), default_token_generator.make_token(user)],
    )
    send_templated_mail(
        to=user.email,
        template="accounts/email/password_reset",
        context={"user": user, "link": link},
        language=user.language,
        key=task_key(context),
    )


@task(takes_context=True)
def send_security_notice(context, *, event_id: int) -> None:
    """E-mail the account (and the old address, after an e-mail change) that its credentials
    changed: once per event and address, however often the task runs (telemed/outbox)."""
    from telemed.accounts.models import SecurityEvent

    event = SecurityEvent.objects.select_related("user", "actor").filter(pk=event_id).first()
    if event is None:
        return  # the account is gone
    user = event.user
    mail_context = {"user": user, "event": event, "security_url": settings.BASE_URL + reverse("accounts:security")}
    for address in dict.fromkeys(filter(None, [user.email, event.previous_email])):
        send_templated_mail(
            to=address,
            template="accounts/email/security_notice",
            context=mail_context,
            language=user.language,
            key=f"security-notice:{event.pk}:{address}",
        )


@task(takes_context=True)
def send_email_change_confirmation(context, *, user_id: int, token: str) -> None:
    """The link that moves the account to its new address, mailed to that address only."""
    from django.core import signing

    from telemed.accounts.credentials import EMAIL_CHANGE_SALT
    from telemed.accounts.models import User

    try:
        new_email = signing.loads(token, salt=EMAIL_CHANGE_SALT)["new"]
    except (signing.BadSignature, KeyError):
        return
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return
    link = settings.BASE_URL + reverse("accounts:email_change_confirm", args=[token])
    send_templated_mail(
        to=new_email,
        template="accounts/email/email_change",
        context={"user": user, "link": link},
        language=user.language,
        key=task_key(context),
    )
