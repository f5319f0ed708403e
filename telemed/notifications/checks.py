"""System check of the VAPID key pair: a wrong one would make every push service refuse every push."""

from django.conf import settings
from django.core.checks import Error, register

from telemed.notifications import webpush


@register()
def vapid_keys_check(app_configs, **kwargs):
    if not (settings.PUSH_VAPID_PUBLIC_KEY and settings.PUSH_VAPID_PRIVATE_KEY):
        return []  # development makes its own pair; production refuses to start without one (settings)
    if webpush.keys_problem():
        return [
            Error(
                webpush.keys_problem(),
                hint="Set TELEMED_VAPID_PUBLIC_KEY and TELEMED_VAPID_PRIVATE_KEY (see README).",
                id="notifications.E001",
            )
        ]
    return []
