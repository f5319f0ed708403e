"""No browser or proxy keeps a copy of private content.

Every answer to a logged-in user (pages, files, PDFs, exports) and every answer that its view
marks private (``@cache_control(private=True)``: the pages and feeds opened by a secret link,
without a session) leaves with ``Cache-Control: private, no-store``. A shared computer's
browser cache or a proxy then holds no invoice, report or clinical document after the user
has gone. One middleware says so for all apps, rather than each view remembering it.

What stays cacheable: static files (WhiteNoise answers them before this middleware) and
the public pages for visitors (home, directory, doctors' profiles).
"""

from django.utils.cache import get_max_age

PRIVATE = "private, no-store"


def _directives(response) -> set[str]:
    header = response.get("Cache-Control", "")
    return {part.split("=", 1)[0].strip().lower() for part in header.split(",") if part.strip()}


def is_private(response) -> bool:
    return {"private", "no-store"} <= _directives(response)


class PrivateResponseMiddleware:
    """Goes after AuthenticationMiddleware (it reads ``request.user``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or "private" in _directives(response):
            make_private(response)
        return response


def make_private(response) -> None:
    """``private, no-store`` and nothing that would keep a copy (public, max-age=3600…)."""
    if is_private(response) and get_max_age(response) in (None, 0):
        return  # e.g. never_cache's "max-age=0, no-cache, no-store, must-revalidate, private"
    response["Cache-Control"] = PRIVATE
