"""The patient's page 'who accessed my documents'."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from telemed.audit import selectors

PAGE_SIZE = 50


@login_required
def my_access_log(request: HttpRequest) -> HttpResponse:
    if not request.user.is_patient:
        raise PermissionDenied
    others_only = request.GET.get("others") == "1"
    entries = selectors.audit_entries_for_patient(request.user, others_only=others_only)
    # get_page copes with any nonsense in ?page= (not a number, out of range).
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "audit/my_access_log.html", {"page": page, "others_only": others_only})
