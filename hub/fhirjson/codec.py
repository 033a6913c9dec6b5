"""FHIR JSON text <-> Python, without losing what the sender wrote.

* ``loads`` parses a JSON number with a fraction or exponent that Python would spell
  otherwise (``105.00``, ``1.0e-400``) as a ``FhirDecimal``: a ``float`` (so everything
  downstream computes with it) that remembers its text, so ``105.00`` is stored and served as
  ``105.00`` and ``1.0e-400`` is still known to be no integer; others are plain floats.
  ``NaN``/``Infinity`` are refused (not JSON). ``strict=True`` (request bodies) also refuses
  duplicate keys, naming where they are.
* ``dumps`` writes compact JSON and every ``FhirDecimal`` as it was written. Bodies without
  one go through the C encoder unchanged.
* ``Raw`` is JSON text already written by ``dumps`` (a stored resource): ``dumps`` puts it
  into the output as it is, so a resource read from the store is served without being
  parsed and written again.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from json.encoder import _make_iterencode, encode_basestring, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any


class FhirDecimal(float):
    """A JSON decimal: its float value, and ``text``, the digits as written."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> FhirDecimal:
        obj = super().__new__(cls, text)
        obj.text = text
        return obj

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __reduce__(self):  # copy/deepcopy/pickle keep the text
        return (FhirDecimal, (self.text,))


class DuplicateKeys(ValueError):
    """A JSON object with the same key twice; ``paths`` names each one."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__("duplicate JSON key(s): " + ", ".join(paths))
        self.paths = paths


class _DupDict(dict):
    """An object that had duplicate keys (only built while parsing)."""

    duplicates: list[str]


#: per thread: whether the parse running on it built a ``_DupDict`` (``loads`` then looks
#: for them; most bodies have none, and are not walked)
_PARSE = threading.local()


def _pairs_strict(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    _PARSE.duplicates = True
    dup = _DupDict(obj)
    seen: set[str] = set()
    dup.duplicates = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    return dup


def _parse_float(text: str) -> float:
    """A plain float when Python spells it back as written (``1.5``), else a FhirDecimal."""
    value = float(text)
    return value if float.__repr__(value) == text else FhirDecimal(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_no_constant)
_STRICT_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_constant=_no_constant,
                                   object_pairs_hook=_pairs_strict)


def loads(raw: str | bytes, *, strict: bool = False) -> Any:
    """Parse JSON text; ValueError if it is not JSON, DuplicateKeys (strict) for repeated keys."""
    text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    if text.startswith("\ufeff"):
        text = text[1:]
    if not strict:
        return _DECODER.decode(text)
    _PARSE.duplicates = False
    data = _STRICT_DECODER.decode(text)
    if not _PARSE.duplicates:
        return data
    paths: list[str] = []
    _find_duplicates(data, _root_name(data), paths)
    if paths:
        raise DuplicateKeys(paths)
    return data


def _root_name(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("resourceType"), str):
        return data["resourceType"]
    return "$"


def _find_duplicates(node: Any, path: str, out: list[str]) -> None:
    if isinstance(node, dict):
        if type(node) is _DupDict:
            out.extend(f"{path}.{key}" for key in node.duplicates)
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                _find_duplicates(value, f"{path}.{key}", out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                _find_duplicates(value, f"{path}[{i}]", out)


def _has_own_text(node: Any) -> bool:
    """Whether a decimal in ``node`` is spelt otherwise than ``float.__repr__`` spells it.

    One loop over an explicit stack of the containers (asked of every JSON text the hub
    writes: not a generator and a call per container)."""
    if type(node) is FhirDecimal:
        return True
    if not isinstance(node, (dict, list)):
        return False
    stack: list[Any] = [node]
    while stack:
        container = stack.pop()
        for value in container.values() if isinstance(container, dict) else container:
            kind = type(value)
            if kind is str:
                continue
            if kind is FhirDecimal:
                return True
            if isinstance(value, (dict, list)):
                stack.append(value)
    return False


class Raw:
    """JSON text written by ``dumps`` (a stored resource), put into ``dumps``' output as is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r}...)"


def _floatstr(o: float) -> str:
    if type(o) is FhirDecimal:
        return o.text
    if o != o or o in (float("inf"), float("-inf")):
        raise ValueError(f"{o!r} is not a JSON number")
    return float.__repr__(o)


#: A ``Raw`` marker as ``json`` writes it (a control character is escaped, ASCII or not):
#: the nonce of its ``dumps`` call and the index of its text; compiled once.
_MARKER = re.compile(r'"\\u0000([0-9a-f]{16}):(\d+)"')


def dumps(obj: Any, *, ensure_ascii: bool = True) -> str:
    """Compact JSON; decimals as they were written; ``Raw`` texts as they are."""
    if type(obj) is Raw:
        return obj.text
    spliced: list[str] = []
    nonce = ""

    def default(o: Any) -> Any:
        nonlocal nonce
        if type(o) is not Raw:
            return _default(o)
        nonce = nonce or secrets.token_hex(8)
        spliced.append(o.text)
        return f"\x00{nonce}:{len(spliced) - 1}"  # a marker string, replaced below

    if not _has_own_text(obj):
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=ensure_ascii,
                          allow_nan=False, default=default)
    else:
        encode = encode_basestring_ascii if ensure_ascii else encode_basestring
        text = "".join(_make_iterencode({}, default, encode, None, _floatstr, ":", ",", False,
                                        False, True)(obj, 0))
    if not spliced:
        return text
    # markers of this call only (a string that merely looks like one keeps its text)
    return _MARKER.sub(lambda m: spliced[int(m.group(2))] if m.group(1) == nonce
                       else m.group(0), text)


def _default(o: Any) -> Any:
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


__all__ = ["DuplicateKeys", "FhirDecimal", "Raw", "dumps", "loads"]
