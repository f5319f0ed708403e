"""Sanitising of free text typed by users before it reaches a query."""

import unicodedata


def clean_search_text(value: str, max_length: int = 200) -> str:
    """Normalised (NFC), without control characters (PostgreSQL refuses NUL), collapsed spaces, bounded."""
    value = unicodedata.normalize("NFC", value[: max_length * 4])
    value = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    return " ".join(value.split())[:max_length]
