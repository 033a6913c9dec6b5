"""The storage codec of the case document: ``hub.cases.Case`` <-> the JSON kept in
``cases.document``, separate from the case API's marshmallow schemas (``hub.schemas``),
so that changing the API never silently changes stored data.

A document carries ``schema_version``. ``encode`` writes the current version; ``decode``
first upgrades an older document step by step (``UPGRADES[n]`` turns version ``n`` into
``n + 1``), on load, then builds the dataclasses. A document newer than this code is
refused (``UnknownSchemaVersion``), never guessed at.

The document is the dataclasses' own shape (field names as in ``hub.cases``; enums by
value; dates and datetimes in ISO 8601, datetimes aware UTC), read and written by
pydantic's ``TypeAdapter`` over the dataclasses.

Versions:

- **0**: what the hub stored before this codec (``CaseSchema().dump(case)``), without a
  ``schema_version``; the same fields, datetimes written ``+00:00``.
- **1**: this codec's: ``schema_version: 1``, datetimes written ``Z``.

Changing ``hub.cases`` in a way that changes the document (a renamed or restructured
field, a new required field) means: bump ``SCHEMA_VERSION``, add the upgrade from the
previous version, and keep a stored document of the previous version under
``tests/fixtures/`` loading (``tests/test_case_codec.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from hub.cases import Case
from hub.fhirjson import codec

#: The version ``encode`` writes.
SCHEMA_VERSION = 1

_CASE: TypeAdapter[Case] = TypeAdapter(Case)

#: How the text of a current document begins (``encode``'s dict, first key first, written by
#: the store's JSON serializer, ``codec.dumps``: compact).
_CURRENT_TEXT = f'{{"schema_version":{SCHEMA_VERSION},'


class UnknownSchemaVersion(ValueError):
    """A stored case document of a schema version this code does not know."""


def _v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (the API schema's dump) has the fields of version 1 already; its
    ``+00:00`` datetimes read as they are."""
    return {**doc, "schema_version": 1}


#: ``UPGRADES[n]``: a version-``n`` document -> the same case as a version ``n + 1`` one.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    0: _v0_to_v1,
}


def encode(case: Case) -> dict[str, Any]:
    """The document to store for ``case`` (current schema version)."""
    doc = _CASE.dump_python(case, mode="json")
    for optional in ("patient_id", "managing_organization"):
        if doc.get(optional) is None:  # optional, added in place: unset = absent, so a
            doc.pop(optional, None)    # document of before it round-trips unchanged
    for referral in doc.get("referrals") or []:  # the same for a referral's offered_to
        if not referral.get("offered_to"):
            referral.pop("offered_to", None)
    return {"schema_version": SCHEMA_VERSION, **doc}


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` brought to ``SCHEMA_VERSION`` (a new dict; ``doc`` is left as it is)."""
    version = doc.get("schema_version", 0)
    if not isinstance(version, int) or not 0 <= version <= SCHEMA_VERSION:
        raise UnknownSchemaVersion(f"case document of schema version {version!r}; this hub "
                                   f"reads up to {SCHEMA_VERSION}")
    out = copy.deepcopy(doc)
    while version < SCHEMA_VERSION:
        out = UPGRADES[version](out)
        if out.get("schema_version") != version + 1:
            raise AssertionError(f"upgrade from {version} did not produce {version + 1}")
        version += 1
    return out


def decode(doc: dict[str, Any]) -> Case:
    """The case of a stored document of any known schema version (``doc`` is not changed:
    a document of the current version is not copied first, validation builds new
    objects)."""
    if doc.get("schema_version") == SCHEMA_VERSION:
        body = {k: v for k, v in doc.items() if k != "schema_version"}
    else:
        body = upgrade(doc)
        body.pop("schema_version")
    return _CASE.validate_python(body)


def decode_text(text: str) -> Case:
    """The case of a stored document's JSON text, as ``decode(codec.loads(text))`` gives it.

    A document of the current version (its text begins ``{"schema_version":1,`` and names
    ``schema_version`` nowhere else) is validated from its text by pydantic in one pass
    (``validate_json``: no Python dict built first). The case has no float fields, so the
    codec's decimals (``FhirDecimal``) never reach it either way: an ``int`` field takes
    ``5``, ``5.0`` and ``5.00`` alike from both. Any other text, and any text the one pass
    refuses (a lone surrogate escape, say, which Python's parser keeps), takes the
    dict's way, which answers it as before (its case or its error)."""
    if text.startswith(_CURRENT_TEXT) and text.count('"schema_version"') == 1:
        try:
            return _CASE.validate_json(text)
        except ValidationError:
            pass
    return decode(codec.loads(text))
