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


class RenderedCases:
    """The answered bytes of the case versions answered last, by (case id, version).

    A case version never changes (a change is a new version, written by compare-and-set),
    so its representation is a function of (id, version) and is rendered once per process
    (``render``: the representation's dict to the body's bytes); the marshmallow dump was
    a fifth of a case read. Bounded: the ``size`` versions used last (a few kB each)."""

    def __init__(self, render: Callable[[dict[str, Any]], bytes], size: int = 512) -> None:
        self._render = render
        self._size = size
        self._bodies: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def body(self, case: c.Case) -> bytes:
        key = (case.id, case.version)
        with self._lock:
            found = self._bodies.get(key)
            if found is not None:
                self._bodies.move_to_end(key)
                return found
        body = self._render(representation(case))
        with self._lock:
            self._bodies[key] = body
            while len(self._bodies) > self._size:
                self._bodies.popitem(last=False)
        return body


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
