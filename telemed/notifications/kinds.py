"""The kinds of notification, registered by the apps that send them (in their AppConfig.ready),
so that the preferences page can list them without this low app knowing the higher ones."""

from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class NotificationKind:
    code: str
    label: str | Promise
    email_by_default: bool = True
    # Pushes reach only the devices a user opted in on; by default the same kinds as e-mails.
    push_by_default: bool = True


_KINDS: dict[str, NotificationKind] = {}


def register(
    code: str, label: str | Promise, *, email_by_default: bool = True, push_by_default: bool | None = None
) -> None:
    """``push_by_default`` unset follows ``email_by_default``."""
    push = email_by_default if push_by_default is None else push_by_default
    _KINDS[code] = NotificationKind(code, label, email_by_default, push)


def get(code: str) -> NotificationKind:
    return _KINDS.get(code) or NotificationKind(code, code)


def all_kinds() -> list[NotificationKind]:
    return sorted(_KINDS.values(), key=lambda kind: str(kind.label))
