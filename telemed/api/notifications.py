"""The person's notifications through the API: the list a page at a time and marking them read,
with the notification centre's own selector and service."""

import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import BaseModel

from telemed.api.auth import access, scoped
from telemed.api.errors import ERRORS
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import ObjectId
from telemed.notifications import selectors, services

router = Router(tags=["notifications"])

PAGE_SIZE = 25


class Notification(Schema):
    id: int
    kind: str
    title: str
    url: str
    created_at: datetime.datetime
    read: bool


class NotificationPage(PageInfo):
    unread: int
    items: list[Notification]


class MarkReadIn(BaseModel):  # a JSON object, never read off another shape
    # The notifications to mark read; none given: all of them.
    ids: list[ObjectId] | None = None


class MarkedRead(Schema):
    marked: int


def _notification(request: HttpRequest, notification) -> dict:
    # Only a path of this site is a link (as the centre follows them); anything else is none.
    url = notification.url if notification.url.startswith("/") and not notification.url.startswith("//") else ""
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "url": request.build_absolute_uri(url) if url else "",
        "created_at": notification.created_at,
        "read": notification.read_at is not None,
    }


@router.get(
    "/notifications",
    response={200: NotificationPage, **ERRORS},
    auth=access("notifications:read"),
    openapi_extra=scoped("notifications:read"),
    summary="List notifications",
)
def notifications_list(request: HttpRequest, page: str = ""):
    info, items = page_of(selectors.notifications_for(request.user), page, PAGE_SIZE)
    return {
        **info.dict(),
        "unread": selectors.unread_count(request.user),
        "items": [_notification(request, notification) for notification in items],
    }


@router.post(
    "/notifications/read",
    response={200: MarkedRead, **ERRORS},
    auth=access("notifications:write"),
    openapi_extra=scoped("notifications:write"),
    summary="Mark notifications read",
)
def notifications_mark_read(request: HttpRequest, body: MarkReadIn):
    ids = None if body.ids is None else body.ids[:1000]
    return {"marked": services.notification_mark_read(actor=request.user, notification_ids=ids)}
