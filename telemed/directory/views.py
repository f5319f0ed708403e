import time

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from telemed.directory import forms, selectors, services

# At most one check per process in this many seconds that the sweep keeping the entries fresh is scheduled.
SWEEP_CHECK_SECONDS = 60


# When this process may look again (its own clock): the shared mark below is a round trip to
# the cache, which every search paid before for a check that is due once a minute.
_next_check_at = 0.0


def _keep_sweep_scheduled() -> None:
    """Restart the sweep chain if nothing started it or it broke (cheap: once a minute per
    process, and then once a minute across processes, through the cache)."""
    global _next_check_at
    now = time.monotonic()
    if now < _next_check_at:
        return
    _next_check_at = now + SWEEP_CHECK_SECONDS
    if cache.add("directory:sweep-checked", True, SWEEP_CHECK_SECONDS):
        services.directory_sweep_schedule()


def search(request: HttpRequest) -> HttpResponse:
    _keep_sweep_scheduled()
    form = forms.DirectorySearchForm(request.GET)
    page = selectors.doctor_search(form.criteria(), form.page_number())
    context = {"form": form, "page": page, "query": form.query_string()}
    if not page.count:
        context["wider_searches"] = form.wider_searches()
    return render(request, "directory/search.html", context)


def profile(request: HttpRequest, slug: str) -> HttpResponse:
    context = selectors.doctor_profile(slug)
    here = reverse("directory:profile", args=[slug])
    # A visitor who is not logged in is led to log in (or sign up) and back to this profile.
    context["login_url"] = reverse("accounts:login") + "?" + urlencode({"next": here})
    context["register_url"] = reverse("accounts:register_patient") + "?" + urlencode({"next": here})
    return render(request, "directory/profile.html", context)
