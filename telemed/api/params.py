"""The shapes of what a client sends, checked before any service sees it, as the pages' forms
check theirs: an object id is a positive number the database can hold (anything else is a 400,
never a database error), a text holds no NUL character (PostgreSQL refuses it; Django's form
fields refuse it too) and is valid UTF-8 (a lone surrogate from a JSON escape is not)."""

import datetime
import re
from typing import Annotated

from ninja import Path
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field

# The largest id of a BigAutoField (PostgreSQL bigint, SQLite integer).
MAX_ID = 2**63 - 1


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("null character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid UTF-8") from None
    return value


# The document says it too (a pattern), so that a client knows before sending: no NUL anywhere.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$"), AfterValidator(_storable)]
# Something written: a character that is neither NUL nor what ``str.strip()`` removes (Unicode
# white space and the four information separators, which Python strips too).
Written = Annotated[str, Field(pattern=r"^[^\x00]*[^\x00\s\x1c-\x1f][^\x00]*$"), AfterValidator(_storable)]


def _json_integer(value):
    """In a body, a whole number as JSON Schema counts one (7 or 7.0): Pydantic would also take
    "7" or true, which the document does not allow."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("a whole number is written as a JSON number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("not a whole number")
        return int(value)
    return value


def integer(low: int, high: int):
    """A whole number of a body between ``low`` and ``high``, both included."""
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_json_integer)]


ObjectId = integer(1, MAX_ID)
Flag = Annotated[bool, Field(strict=True)]


def object_id() -> int:
    """A path's object id (``consult_id: int = object_id()``)."""
    return Path(..., ge=1, le=MAX_ID)


def _full_date(value):
    """A date as the document says it, ``YYYY-MM-DD``: Pydantic would also take a number (seconds
    since 1970) or a moment, which the document does not allow."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("a date is written YYYY-MM-DD")
    return datetime.date.fromisoformat(value)


def _moment_text(value):
    """A moment as ISO 8601 text, never a number of seconds."""
    if not isinstance(value, str):
        raise ValueError("a moment is written as ISO 8601 text")
    return value


IsoDate = Annotated[datetime.date, BeforeValidator(_full_date)]
IsoMoment = Annotated[AwareDatetime, BeforeValidator(_moment_text)]
