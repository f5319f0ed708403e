from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from telemed.accounts import selectors as accounts
from telemed.directory import selectors

PAGE_SIZE = 20


def search(request: HttpRequest) -> HttpResponse:
    criteria = selectors.DoctorSearch(
        text=request.GET.get("q", ""), specialty=request.GET.get("specialty", ""), city=request.GET.get("city", "")
    )
    page = Paginator(selectors.doctor_search(criteria), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "directory/search.html",
        {"page": page, "criteria": criteria, "specialties": accounts.specialty_list(), "query": query.urlencode()},
    )


def profile(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "directory/profile.html", selectors.doctor_profile(slug))
