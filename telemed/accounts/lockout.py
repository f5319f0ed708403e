"""The login lockout (django-axes) counts failures per account, not per spelling.

Axes keys its records by the username it is given. Without this, five failures for
``anna@example.test`` would lock that spelling only, while ``ANNA@example.test`` (the same
account: e-mail addresses are matched regardless of case) could go on guessing. Every
variant is reduced to ``telemed.lib.text.account_email`` before axes counts or checks it.
Named in settings as ``AXES_USERNAME_CALLABLE``.
"""

from django.conf import settings

from telemed.lib.text import account_email


def axes_username(request, credentials: dict | None) -> str:
    """The account a login attempt is for: from the credentials given to authenticate(),
    else from the posted form."""
    field = settings.AXES_USERNAME_FORM_FIELD
    value = (credentials or {}).get(field)
    if value is None and request is not None:
        value = getattr(request, "POST", {}).get(field)
    return account_email(value) if isinstance(value, str) else ""
