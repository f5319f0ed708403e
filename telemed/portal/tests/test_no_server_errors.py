"""Nothing a user can send makes a server error. Every URL of the platform (the Django admin
aside, which is Django's own), as every role of the demo and as a visitor, is asked for with
GET and POST, bare and full of malformed values, with ids that exist and ids that do not.
Any answer of 500 or more is a bug: bad input must get a clear message."""

import uuid

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from conftest import log_in
from telemed.accounts.models import User

pytestmark = pytest.mark.django_db

ROLES = ["visitor", "paziente", "medico", "segreteria", "struttura", "staff"]
# Leaving the session would turn the rest of the run into a visitor's.
SKIPPED = {"accounts:logout"}
# What a careless or hostile form sends: wrong types, impossible dates, control characters,
# path tricks, numbers out of any range, unknown choices.
MALFORMED = {
    name: value
    for names, value in [
        (
            ("text", "message", "question", "notes", "title", "reason", "note", "subject", "answer"),
            "\x00 <script>x</script>",
        ),
        (("name", "file_name", "first_name", "last_name"), "../../etc/passwd"),
        (("email", "username"), "not-an-e-mail"),
        (("password", "password1", "password2", "new_password1", "new_password2"), "x"),
        (("code", "pin", "token"), "12ab"),
        (("amount", "fee", "price", "percent", "total", "accepted_total"), "-1e309"),
        (
            ("duration", "duration_minutes", "slot_minutes", "interval", "count", "horizon_days", "offset"),
            "99999999999999999999",
        ),
        (("date", "start", "end", "until", "first_day", "last_day", "day", "birth_date", "occurrence"), "2026-02-30"),
        (("time", "times"), "25:99"),
        (("kind", "category", "status", "frequency", "role", "language", "choice", "email_choice"), "\U0001f4a5"),
        (
            ("doctor", "patient", "folder", "document", "documents", "studies", "study", "doctors", "ids", "include"),
            "1;DROP TABLE",
        ),
        (("after", "up_to", "page", "year", "month", "weekday", "weekdays"), "-x"),
        (("next",), "https://evil.example/"),
    ]
    for name in names
}


def concrete_paths() -> list[tuple[str, str]]:
    """Every URL pattern with its parameters filled in: with ids of the demo's first objects,
    and with ids that match nothing."""
    filled = {
        "int": ["1", "999999"],
        "str": ["x", "2026"],
        "slug": ["marco-bianchi", "nessuno"],
        "uuid": [str(uuid.uuid4())],
    }
    found = []

    def walk(patterns, prefix, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, [namespace, pattern.namespace]))
                if inner != "admin":
                    walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                name = ":".join(filter(None, [namespace, pattern.name]))
                if name not in SKIPPED:
                    found.extend((name, path) for path in expand(prefix + str(pattern.pattern)))

    def expand(route: str) -> list[str]:
        import re

        match = re.search(r"<(?:(\w+):)?\w+>", route)
        if match is None:
            return ["/" + route.lstrip("^").rstrip("$")]
        values = filled.get(match.group(1) or "str", ["x"])
        return [path for value in values for path in expand(route[: match.start()] + value + route[match.end() :])]

    walk(get_resolver().url_patterns, "", "")
    return found


@pytest.mark.parametrize("role", ROLES)
def test_no_url_answers_a_server_error_whatever_it_is_sent(role, files_in_tmp):
    call_command("load_demo", verbosity=0)
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="it")
    if role != "visitor":
        log_in(client, User.objects.get(email=f"{role}@demo.telemed.test"))
    errors = []
    for name, path in concrete_paths():
        for method, data in (("get", {}), ("get", MALFORMED), ("post", {}), ("post", MALFORMED)):
            response = getattr(client, method)(path, data)
            if response.status_code >= 500 and name != "healthz":
                errors.append(
                    f"{method.upper()} {path} ({name}{', malformed' if data else ''}): {response.status_code}"
                )
    assert errors == []
