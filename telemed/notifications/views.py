import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from telemed.notifications import selectors, services, webpush
from telemed.notifications.forms import MarkReadForm, PushDeviceForm


@login_required
def centre(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.notifications_for(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "notifications/centre.html", {"page": page})


@login_required
@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    form = MarkReadForm(request.POST)
    ids = [form.cleaned_data["notification"]] if form.is_valid() and form.cleaned_data["notification"] else None
    services.notification_mark_read(actor=request.user, notification_ids=ids)
    return redirect("notifications:centre")


@login_required
def open_notification(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notification's link, marking it read on the way."""
    notification = selectors.notifications_for(request.user).filter(pk=notification_id).first()
    if notification is None:
        return redirect("notifications:centre")
    services.notification_mark_read(actor=request.user, notification_ids=[notification.pk])
    # Only a path of this site: a notification never sends anyone elsewhere.
    if notification.url.startswith("/") and not notification.url.startswith("//"):
        return redirect(notification.url)
    return redirect("notifications:centre")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    choices = selectors.email_preferences_of(request.user)
    if request.method == "POST":
        services.notification_preferences_set(
            actor=request.user,
            email={choice["code"]: f"email_{choice['code']}" in request.POST for choice in choices},
            push={choice["code"]: f"push_{choice['code']}" in request.POST for choice in choices},
        )
        messages.success(request, _("Your notification preferences have been saved."))
        return redirect("notifications:preferences")
    context = {
        "choices": choices,
        "devices": selectors.push_devices_of(request.user),
        "vapid_public_key": webpush.vapid_public_key(),
    }
    return render(request, "notifications/preferences.html", context)


def _json_error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message}, status=status)


def _json_body(request: HttpRequest) -> dict | None:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


@require_POST
def push_subscribe(request: HttpRequest) -> JsonResponse:
    """The page's script posts what ``PushManager.subscribe()`` gave it (its ``toJSON()``)."""
    if not request.user.is_authenticated:
        return _json_error(_("Log in to receive notifications on this device."), status=401)
    body = _json_body(request)
    keys = body.get("keys") if body else None
    if not body or not isinstance(body.get("endpoint"), str) or not isinstance(keys, dict):
        return _json_error(_("The browser sent an invalid subscription."))
    try:
        services.push_subscription_save(
            actor=request.user,
            endpoint=body["endpoint"],
            p256dh=keys.get("p256dh"),
            auth=keys.get("auth"),
            label=webpush.device_label(request.headers.get("User-Agent", "")),
        )
    except ValidationError as error:
        return _json_error(error.messages[0])
    return JsonResponse({"ok": True})


@require_POST
def push_unsubscribe(request: HttpRequest) -> JsonResponse:
    if not request.user.is_authenticated:
        return _json_error(_("Log in to receive notifications on this device."), status=401)
    body = _json_body(request)
    if not body or not isinstance(body.get("endpoint"), str):
        return _json_error(_("The browser sent an invalid subscription."))
    removed = services.push_subscription_delete(actor=request.user, endpoint=body["endpoint"])
    return JsonResponse({"ok": True, "removed": removed})


@login_required
@require_POST
def push_device_remove(request: HttpRequest) -> HttpResponse:
    """The preferences page's "stop" next to one of the user's devices."""
    form = PushDeviceForm(request.POST)
    if form.is_valid() and services.push_subscription_delete(
        actor=request.user, subscription_id=form.cleaned_data["device"]
    ):
        messages.success(request, _("That device will not receive notifications any more."))
    else:
        messages.error(request, _("That device was already removed."))
    return redirect("notifications:preferences")
