"""Where a page may send the browser next, when the request itself says so (``next=``).

A ``next`` value comes from the user: a link, a hidden field, a hand-made request. It is
followed only when it is a path of this very site, written so that every browser reads it
the same way; anything else gives the page's own default. The rules:

- text of at most ``MAX_LENGTH`` printable ASCII characters (our pages always send
  ``request.get_full_path()``, which is already percent-encoded): no spaces, no control
  characters, which browsers strip or treat in their own ways (``"\\t//evil"``);
- it starts with exactly one ``/``: ``//evil.example`` is another site, and so is
  ``/\\evil.example`` (browsers read a backslash as a slash), so no backslash anywhere;
- nothing else: no scheme (``javascript:``, ``https:``), no bare word (``abc``, ``-1``),
  which Django's ``redirect()`` would try to reverse as a URL name.

Framework-free: it reads ``request.POST`` and ``request.GET`` and nothing more.
"""

MAX_LENGTH = 2000
_PRINTABLE_ASCII = frozenset(chr(code) for code in range(0x21, 0x7F))


def same_site_path(value: object, default: str) -> str:
    """``value`` when it is a same-site path (see the module's rules), else ``default``."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_LENGTH:
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if not set(value) <= _PRINTABLE_ASCII:
        return default
    return value


def next_path(request, default: str) -> str:
    """The request's ``next`` (posted, else in the query string) when safe, else ``default``."""
    return same_site_path(request.POST.get("next") or request.GET.get("next"), default)
