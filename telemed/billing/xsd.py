"""XML Schema checks for the files billing hands to banks and authorities.

A file that a bank or the Sistema TS would refuse is never offered: it is checked here, with
lxml, against the schema of its format first. Schemas and documents are parsed with everything
that could reach outside switched off (no network, no entities, no DTD); each schema is
compiled once per process.
"""

from functools import cache
from pathlib import Path

from lxml import etree

SCHEMAS = Path(__file__).resolve().parent / "schemas"


class SchemaInvalid(ValueError):
    """The document breaks its schema. ``str()`` gives libxml2's messages (they may quote values);
    ``places`` names only the elements and the kind of fault, for logs."""

    def __init__(self, errors: list[etree._LogEntry]):
        super().__init__("; ".join(f"line {error.line}: {error.message}" for error in errors))
        self.places = [f"{error.path} ({error.type_name})" for error in errors]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)


@cache
def schema(path: Path | str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path), _parser()))


def validate(document: bytes | etree._Element, path: Path | str, *, error: type[SchemaInvalid] = SchemaInvalid) -> None:
    """Raise ``error`` (a :class:`SchemaInvalid`) unless ``document``, XML bytes or a parsed tree,
    follows the schema at ``path``."""
    root = etree.fromstring(document, _parser()) if isinstance(document, bytes) else document
    checker = schema(str(path))
    if not checker.validate(root):
        raise error(list(checker.error_log))
