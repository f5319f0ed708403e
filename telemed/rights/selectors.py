"""Reads of the data rights, scoped to the asking account."""

from django.http import Http404

from telemed.accounts.models import User
from telemed.rights.models import OPEN_ERASURE_STATES, DataExport, ErasureRequest


def export_latest_of(user: User) -> DataExport | None:
    """The account's newest export (there is at most one kept)."""
    if not user.is_authenticated:
        return None
    return DataExport.objects.filter(user=user).first()


def export_get_for_user(user: User, export_id) -> DataExport:
    """One of the account's own exports; anyone else's, or a malformed id, is a 404."""
    try:
        export = DataExport.objects.filter(pk=export_id, user=user).first() if user.is_authenticated else None
    except (ValueError, TypeError):
        export = None
    if export is None:
        raise Http404
    return export


def erasure_open_of(user: User) -> ErasureRequest | None:
    """The account's deletion request under way (asked or scheduled), if any."""
    if not user.is_authenticated:
        return None
    return ErasureRequest.objects.filter(user=user, state__in=OPEN_ERASURE_STATES).first()
