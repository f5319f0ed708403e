from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from telemed.notifications import selectors, services
from telemed.notifications.forms import MarkReadForm


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
        services.email_preferences_set(
            actor=request.user, choices={choice["code"]: f"email_{choice['code']}" in request.POST for choice in choices}
        )
        messages.success(request, _("Your e-mail preferences have been saved."))
        return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"choices": choices})
