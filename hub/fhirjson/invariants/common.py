"""Helpers shared by the invariant checks: element presence (a primitive counts when only its
``_name`` extension part is there), FHIRPath's date comparison, numbers and codings."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

Found = Iterable[tuple[str, str, str]]
UCUM = "http://unitsofmeasure.org"
ISO_4217 = "urn:iso:std:iso:4217"
REF_TYPE = re.compile(r"^(?:https?://\S*?/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}"
                      r"(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


def has(obj: dict, *names: str) -> bool:
    return any(n in obj or "_" + n in obj for n in names)


def has_choice(obj: dict, base: str) -> bool:
    n = len(base)
    return any(k[:n] == base and len(k) > n and k[n].isupper() for k in obj) or \
        any(k[1:n + 1] == base and len(k) > n + 1 and k[n + 1].isupper()
            for k in obj if k[0] == "_")


def _when(text: Any) -> datetime | None:
    """A dateTime/instant with a time, as an aware datetime (None for partial dates)."""
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def before(start: Any, end: Any) -> bool:
    """Whether ``start <= end`` is not true in FHIRPath: ``end`` earlier, or the comparison
    is uncertain (equal up to the coarser precision of the two: FHIRPath answers empty, and
    an invariant that is not true fails, as in the reference validator)."""
    if not isinstance(start, str) or not isinstance(end, str):
        return False
    a, b = _when(start), _when(end)
    if a is not None and b is not None:
        return b < a
    sd, ed = start[:10], end[:10]
    n = min(len(sd), len(ed))
    if sd[:n] != ed[:n]:
        return ed[:n] < sd[:n]
    return len(start) != len(end)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def codings(concept: Any) -> list[dict]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]
