"""A ``next`` value is followed only when it is a path of this site; anything else gives the default."""

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemed.lib.redirects import MAX_LENGTH, same_site_path

DEFAULT = "/dashboard/"
ODD = [
    "", "-1", "abc", "0", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "\\/evil.example",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "https://evil.example/", "http:/evil.example", "%2F%2Fevil.example",
    " /", "\t//evil.example", "/\t/evil.example", "/\n/evil.example", "/ok\x00", "/\u2028", "/caf\u00e9", "/\uff0fevil",
    "   ", "/" + "a" * (MAX_LENGTH + 1), "data:text/html,x", "mailto:x@y",
]  # fmt: skip


def is_same_site_path(value: str) -> bool:
    parts = urlsplit(value)
    return (
        value.startswith("/") and not value.startswith("//") and "\\" not in value
        and not parts.scheme and not parts.netloc and value.isascii() and value.isprintable() and " " not in value
    )  # fmt: skip


@pytest.mark.parametrize("value", ODD)
def test_odd_values_fall_back_to_the_default(value):
    assert same_site_path(value, DEFAULT) == DEFAULT


@pytest.mark.parametrize(
    "value", ["/", "/reminders/?date=2026-03-01&view=month", "/medici/marco-bianchi/#book", "/a%2F%2Fb"]
)
def test_same_site_paths_are_followed(value):
    assert same_site_path(value, DEFAULT) == value


def test_what_is_not_text_falls_back():
    assert same_site_path(None, DEFAULT) == DEFAULT
    assert same_site_path(["/x"], DEFAULT) == DEFAULT


@given(st.one_of(st.text(), st.sampled_from(ODD), st.text().map(lambda tail: "/" + tail)))
def test_the_answer_is_always_a_same_site_path(value):
    answer = same_site_path(value, DEFAULT)
    assert answer in (value, DEFAULT) and is_same_site_path(answer)
