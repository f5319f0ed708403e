"""The shapes of what a client sends, checked before any service sees it, as the pages' forms
check theirs: an object id is a positive number the database can hold (anything else is a 400,
never a database error), a text holds no NUL character (PostgreSQL refuses it; Django's form
fields refuse it too) and is valid UTF-8 (a lone surrogate from a JSON escape is not)."""

import datetime
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
ObjectId = Annotated[int, Field(ge=1, le=MAX_ID)]


def object_id() -> int:
    """A path's object id (``consult_id: int = object_id()``)."""
    return Path(..., ge=1, le=MAX_ID)


def _written_out(value):
    """A date or a moment as the document says it, ISO 8601 text: Pydantic would also take a
    number (seconds since 1970), which the document does not allow."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("a date is written as ISO 8601 text")
    return value


IsoDate = Annotated[datetime.date, BeforeValidator(_written_out)]
IsoMoment = Annotated[AwareDatetime, BeforeValidator(_written_out)]
