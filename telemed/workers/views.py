import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from telemed.accounts.views import flash_refusal
from telemed.workers import selectors, services


@login_required
@require_GET
def tasks(request: HttpRequest) -> HttpResponse:
    return render(request, "workers/tasks.html", selectors.tasks_needing_staff(request.user))


@login_required
@require_POST
def task_run_again(request: HttpRequest, task_id: str) -> HttpResponse:
    try:
        uuid.UUID(task_id)
        services.task_run_again(actor=request.user, task_id=task_id)
    except ValueError:
        flash_refusal(request, ValidationError(_("This task is not failed nor stuck any more: nothing to run again.")))
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("The task is back in the queue."))
    return redirect("workers:tasks")
