"""Sanitising of free text typed by users before it reaches a query."""

import unicodedata


def clean_search_text(value: str, max_length: int = 200) -> str:
    """Normalised (NFC), without control characters (PostgreSQL refuses NUL), collapsed spaces, bounded."""
    value = unicodedata.normalize("NFC", value[: max_length * 4])
    value = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    return " ".join(value.split())[:max_length]


def account_email(value: str) -> str:
    """The account an e-mail address names: without surrounding spaces, case-folded.

    People type their address as ``Anna@Example.test`` one day and ``anna@example.test `` the
    next; both are the same account. Every place an address enters (login and its lockout,
    registration, password reset, invitations) goes through this one function, so that the
    login lockout cannot be walked around by changing the letter case, and an account is
    stored, found and throttled under one key.
    """
    return value.strip().casefold()
