"""The case as the case API shows it and takes it back: its JSON representation, a
replacement read from JSON (GET -> PUT round trip) and JSON Merge Patch (RFC 7396).

The representation is ``CaseSchema`` plus the computed ``next_review_due``. A replacement
is loaded with every field of the representation; the server-set ones are then compared
with the stored case (``hub.case_server_fields``).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from marshmallow import ValidationError, fields

from hub import cases as c
from hub.errors import validation_failed
from hub.schemas import CaseInputSchema, CaseSchema

_out = CaseSchema()
_due = fields.Date(allow_none=True)


def representation(case: c.Case) -> dict[str, Any]:
    """The case's JSON as ``GET /api/cases/{id}`` answers it."""
    body = _out.dump(case)
    due = case.next_review_due
    body["next_review_due"] = due.isoformat() if due else None
    return body


@dataclass(frozen=True)
class Shown:
    """A case version as the API answers it: the body's bytes, the version (its ETag), what
    the app keeps of the case beside them (``RenderedCases``' ``facts``: the audit record's
    patient) and the stored document text it was decoded from (None: rendered from a case
    in hand)."""

    body: bytes
    version: int
    facts: Any
    text: str | None


class RenderedCases:
    """The answered bytes of the case versions answered last, by (case id, version).

    A case version never changes (a change is a new version, written by compare-and-set),
    so its representation is a function of (id, version) and is rendered once per process
    (``render``: the representation's dict to the body's bytes); the marshmallow dump was
    a fifth of a case read. Bounded: the ``size`` versions used last (a few kB each).

    A read finds a version by its stored text (``stored``): only a version rendered from that
    very text is answered, so a document rewritten in place (``hub fhir rekey`` moves
    patient ids without a new version) is decoded and rendered again; a read that finds
    one decodes nothing (the decode was a tenth of a case read)."""

    def __init__(self, render: Callable[[dict[str, Any]], bytes], size: int = 512, *,
                 facts: Callable[[c.Case], Any] = lambda case: None) -> None:
        self._render = render
        self._facts = facts
        self._size = size
        self._shown: OrderedDict[tuple[str, int], Shown] = OrderedDict()
        self._lock = threading.Lock()

    def body(self, case: c.Case) -> bytes:
        return self.shown(case).body

    def shown(self, case: c.Case, text: str | None = None) -> Shown:
        """``case`` as answered (``text``: the stored document it was decoded from)."""
        found = self._find((case.id, case.version), text)
        if found is not None:
            return found
        shown = Shown(self._render(representation(case)), case.version, self._facts(case),
                      text)
        with self._lock:
            self._shown[(case.id, case.version)] = shown
            self._shown.move_to_end((case.id, case.version))
            while len(self._shown) > self._size:
                self._shown.popitem(last=False)
        return shown

    def stored(self, case_id: str, version: int, text: str) -> Shown | None:
        """The version rendered from exactly this stored ``text``, or None."""
        return self._find((case_id, version), text)

    def _find(self, key: tuple[str, int], text: str | None) -> Shown | None:
        with self._lock:
            found = self._shown.get(key)
            if found is None or (text is not None and found.text != text):
                return None
            self._shown.move_to_end(key)
            return found


def load_replacement(raw: dict[str, Any]) -> tuple[c.Case, date | None]:
    """The case in a PUT body (or a patched representation) and the ``next_review_due`` it
    carries; ValidationFailed (422) naming every invalid field."""
    body = {k: v for k, v in raw.items() if k != "next_review_due"}
    errors: dict[str, Any] = {}
    due = None
    if "next_review_due" in raw:
        try:
            due = _due.deserialize(raw["next_review_due"])
        except ValidationError as err:
            errors["next_review_due"] = err.messages
    try:
        case = CaseInputSchema().load(body)
    except ValidationError as err:
        errors.update(err.messages if isinstance(err.messages, dict) else {"_": err.messages})
    if errors:
        raise validation_failed(errors)
    return case, due


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge member by member, ``null`` removes a
    member, anything else (arrays included) replaces. ``target`` is not changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
