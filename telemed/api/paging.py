"""Lists a page at a time, as the pages show them: ``?page=N`` (anything else is the first page,
a number past the end the last), and the page's place in the whole."""

from django.core.paginator import Paginator
from ninja import Schema


class PageInfo(Schema):
    count: int
    page: int
    num_pages: int


def page_of(items, number: str | int | None, size: int) -> tuple[PageInfo, list]:
    page = Paginator(items, size).get_page(number)
    info = PageInfo(count=page.paginator.count, page=page.number, num_pages=page.paginator.num_pages)
    return info, list(page.object_list)
