"""The public directory of doctors, as the search page gives it: the same form reads the filters
(anything that does not parse is left out, never an error), the same selector searches."""

from django.http import HttpRequest
from ninja import Query, Router, Schema

from telemed.api.errors import ERRORS
from telemed.directory.forms import DirectorySearchForm
from telemed.directory.selectors import doctor_search

router = Router(tags=["directory"])


class DoctorSearchQuery(Schema):
    q: str = ""
    specialty: str = ""
    city: str = ""
    language: str = ""
    service: str = ""
    max_price: str = ""
    second_opinion: str = ""
    page: str = ""


class DoctorResult(Schema):
    slug: str
    name: str
    specialties: str
    place: str
    verified: bool
    second_opinion: bool
    # Machine-readable amounts are str(Decimal), euros with two places ("50.00").
    price: str | None
    profile_url: str


class DoctorSearchPage(Schema):
    count: int
    page: int
    num_pages: int
    capped: bool
    corrected: str
    results: list[DoctorResult]


@router.get("/doctors", response={200: DoctorSearchPage, **ERRORS}, auth=None, summary="Search the directory")
def doctors_search(request: HttpRequest, filters: Query[DoctorSearchQuery]):
    data = {name: value for name, value in filters.dict().items() if value}
    form = DirectorySearchForm(data)
    page = doctor_search(form.criteria(), form.page_number())
    return {
        "count": page.count,
        "page": page.number,
        "num_pages": page.num_pages,
        "capped": page.capped,
        "corrected": page.corrected,
        "results": [
            {
                "slug": result.entry.slug,
                "name": result.name,
                "specialties": result.specialties,
                "place": result.place,
                "verified": result.verified,
                "second_opinion": result.second_opinion,
                "price": None if result.price is None else str(result.price),
                "profile_url": request.build_absolute_uri(result.url),
            }
            for result in page.results
        ],
    }
