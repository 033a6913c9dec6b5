"""Parsing a FHIR search request into a ``SearchQuery`` (pure: no Flask, no SQL).

Parameters with the same name are ANDed, comma-separated values are ORed. Unknown
parameters are dropped with a warning, or refused under ``Prefer: handling=strict``;
a value that can't be parsed (a bad date, an unsupported modifier) is always a 400.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from hub.errors import BadRequest, Issue
from hub.fhir import model_class
from hub.fhirstore.dates import date_range
from hub.fhirstore.searchparams import SPECIAL, SUPPORTED_TYPES, SearchParam, params_for, reference_target

DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_MODIFIERS = {
    "token": {None, "not", "missing"},
    "reference": {None, "missing"},
    "string": {None, "exact", "contains", "missing"},
    "date": {None, "missing"},
    "number": {None, "missing"},
}
_RESULT_PARAMS = {"_count", "_offset", "_cursor", "_sort", "_include", "_revinclude", "_total",
                  "_summary", "_elements", "_format", "_pretty"}
SUMMARY_MODES = ("true", "text", "data", "count", "false")


@dataclass(frozen=True)
class TokenValue:
    system: str | None  # None: any system; "": no system
    code: str | None  # None: any code of the system


@dataclass(frozen=True)
class DateValue:
    prefix: str
    low: datetime
    high: datetime


@dataclass(frozen=True)
class RefValue:
    type: str | None
    id: str


@dataclass(frozen=True)
class ChainValue:
    """``subject:Patient.name=peter``: the resources of ``type`` matching ``criterion``."""

    type: str
    criterion: Criterion


@dataclass
class Criterion:
    """One search parameter occurrence: its values are ORed."""

    name: str
    kind: str  # token | reference | date | string | number | _id | _lastUpdated | chain
    modifier: str | None
    values: list[Any]
    param: SearchParam | None = None


@dataclass(frozen=True)
class Include:
    source: str  # resource type holding the reference, or "*"
    param: str  # reference parameter name, or "*"
    target: str | None = None
    iterate: bool = False  # _include:iterate: applied to included resources too


@dataclass(frozen=True)
class Cursor:
    """Where a keyset page starts: after (or, ``before``, ahead of) the row whose sort key
    is ``key`` (an instant for _lastUpdated, an id for _id) and id ``res_id``, in the
    search as it stood at ``snapshot`` (rows keep the place they had then)."""

    snapshot: datetime
    #: a tuple of keys (each a datetime, str, float or None) for a ``_sort`` by parameters
    key: datetime | str | tuple[Any, ...] | None = None
    res_id: str | None = None
    before: bool = False

    def token(self) -> str:
        if isinstance(self.key, tuple):
            key: Any = [_typed(k) for k in self.key]
            kind = 2
        else:
            key = self.key.isoformat() if isinstance(self.key, datetime) else self.key
            kind = int(isinstance(self.key, datetime))
        raw = json.dumps([self.snapshot.isoformat(), key, self.res_id, int(self.before),
                          kind], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            snap, key, res_id, before, kind = json.loads(raw)
            if kind == 2:
                key = tuple(_untyped(k) for k in key)
            elif kind and key:
                key = datetime.fromisoformat(key)
            return cls(datetime.fromisoformat(snap), key, res_id, bool(before))
        except (ValueError, TypeError, KeyError):
            raise _bad(f"_cursor {token!r} is not a cursor this server made", code="value",
                       path="_cursor") from None


def _typed(value: Any) -> list[Any] | None:
    """One sort key of a cursor as JSON: [kind, value] (kinds d: datetime, s: text,
    n: number), or null for a row without a value."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return ["d", value.isoformat()]
    if isinstance(value, str):
        return ["s", value]
    return ["n", float(value)]


def _untyped(item: Any) -> Any:
    if item is None:
        return None
    kind, value = item
    if kind == "d":
        return datetime.fromisoformat(value)
    if kind == "s":
        if not isinstance(value, str):
            raise TypeError("not a string")
        return value
    if kind == "n":
        return float(value)
    raise KeyError(kind)


@dataclass
class SearchQuery:
    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (name, descending)
    count: int = 20
    offset: int = 0
    cursor: Cursor | None = None  # keyset paging (the links' _cursor)
    total: str = "accurate"
    summary: str | None = None
    elements: tuple[str, ...] = ()  # _elements: top-level element names
    warnings: list[str] = field(default_factory=list)
    used: list[tuple[str, str]] = field(default_factory=list)  # kept params, for links
    compartment: str | None = None  # the Organization a bound caller is restricted to
    client: str | None = None  # the caller's client id: owned types are its own only
    #: the links' query string up to ``_count`` (``link_query``), encoded at the first link
    _link_base: str | None = field(default=None, init=False, repr=False, compare=False)

    def link_query(self, offset: int | None = None, cursor: Cursor | None = None) -> str:
        """The query string of a link to this search (at ``offset``, or ``cursor``). What
        precedes them is encoded once: a search writes two or three links."""
        if self._link_base is None:
            self._link_base = self._link_items()
        if cursor is not None:  # a token is URL-safe base64: urlencode keeps it as it is
            return f"{self._link_base}&_cursor={cursor.token()}"
        return f"{self._link_base}&_offset={offset}" if offset else self._link_base

    def _link_items(self) -> str:
        items = list(self.used)
        items += [("_include" + (":iterate" if i.iterate else ""), _include_text(i))
                  for i in self.includes]
        items += [("_revinclude" + (":iterate" if i.iterate else ""), _include_text(i))
                  for i in self.revincludes]
        if self.sort:
            items.append(("_sort", ",".join(("-" if d else "") + n for n, d in self.sort)))
        if self.summary:
            items.append(("_summary", self.summary))
        if self.elements:
            items.append(("_elements", ",".join(self.elements)))
        if self.total != "accurate":
            items.append(("_total", self.total))
        items.append(("_count", str(self.count)))
        return urlencode(items)


def _include_text(inc: Include) -> str:
    if inc.source == "*":
        return "*"
    return ":".join(p for p in (inc.source, inc.param, inc.target) if p)


def split_values(text: str) -> list[str]:
    """Split on commas not escaped by a backslash; unescape ``\\,``, ``\\|``, ``\\$``."""
    parts = re.split(r"(?<!\\),", text)
    return [p.replace("\\,", ",").replace("\\$", "$") for p in parts]


def parse_token(text: str) -> TokenValue:
    if "|" not in text:
        return TokenValue(None, text)
    system, _, code = text.partition("|")
    return TokenValue(system, code or None)


def parse_date(text: str) -> DateValue:
    prefix = "eq"
    if text[:2] in DATE_PREFIXES and text[2:3].isdigit():
        prefix, text = text[:2], text[2:]
    try:
        low, high = date_range(text)
    except ValueError:
        raise BadRequest(f"not a valid date search value: {text!r}", issues=[Issue(
            f"not a valid date search value: {text!r}", code="value")]) from None
    return DateValue(prefix, low, high)


def parse_reference(text: str, type_modifier: str | None,
                    local_base: str | None = None) -> RefValue:
    target = reference_target(text, local_base)
    if target is None:
        raise BadRequest(f"not a valid reference search value: {text!r}")
    rtype, rid = target
    return RefValue(type_modifier or rtype, rid)


def _parse_value(kind: str, modifier: str | None, text: str, local_base: str | None) -> Any:
    if modifier == "missing":
        if text not in ("true", "false"):
            raise BadRequest(":missing takes true or false")
        return text == "true"
    if kind in ("token", "_id"):
        return parse_token(text) if kind == "token" else text
    if kind in ("date", "_lastUpdated"):
        return parse_date(text)
    if kind == "reference":
        return parse_reference(text, modifier, local_base)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise BadRequest(f"not a number: {text!r}") from None
    return text


def is_resource_type(name: str) -> bool:
    """Whether ``name`` is an R4 resource type (a type modifier may name any of them)."""
    try:
        model_class(name)
    except (ValueError, KeyError, AttributeError, TypeError):
        return False
    return True


def _include(text: str, rev: bool, resource_type: str, iterate: bool = False) -> Include:
    if text == "*":
        return Include("*", "*", None, iterate)
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise BadRequest(f"not a valid include: {text!r}")
    source, param = parts[0], parts[1]
    if param != "*":
        sp = params_for(source).get(param)
        if sp is None or sp.type != "reference":
            raise BadRequest(f"{source}:{param} is not a reference search parameter",
                             issues=[Issue(f"{source}:{param} is not a supported reference "
                                           "search parameter", code="not-supported")])
    if not rev and not iterate and source != resource_type:
        raise BadRequest(f"_include {text!r} does not start with {resource_type}")
    target = parts[2] if len(parts) == 3 else None
    if target is not None and not is_resource_type(target):
        raise _bad(f"_include {text!r}: {target} is not a FHIR resource type")
    return Include(source, param, target, iterate)


def parse_search(resource_type: str, items: list[tuple[str, str]], *, strict: bool = False,
                 default_count: int = 20, max_count: int = 200,
                 local_base: str | None = None) -> SearchQuery:
    """Parse ``items`` (name, value) of a search on ``resource_type``; BadRequest if bad.

    ``local_base`` is the hub's FHIR base: absolute reference values under it are local.
    """
    q = SearchQuery(resource_type, count=default_count)

    def unknown(message: str, code: str = "not-supported", path: str | None = None) -> None:
        if strict:
            raise BadRequest(message, issues=[Issue(message, code=code, path=path)])
        q.warnings.append(message)

    for key, raw in items:
        name, _, modifier = key.partition(":")
        if name in _RESULT_PARAMS:
            _result_param(q, name, modifier or None, raw, max_count, unknown)
            continue
        crit = _criterion(resource_type, key, raw, local_base, 0)
        if crit is _UNKNOWN:
            unknown(f"unknown search parameter {key!r} on {resource_type} was ignored")
            continue
        if crit is not None:
            q.criteria.append(crit)
            q.used.append((key, raw))
    return q


_UNKNOWN = Criterion("", "", None, [])
#: How many references a chain may follow (``subject:Patient.organization.name``: 2).
MAX_CHAIN = 2


def _bad(message: str, code: str = "not-supported", path: str | None = None) -> BadRequest:
    return BadRequest(message, issues=[Issue(message, code=code, path=path)])


def _criterion(rtype: str, key: str, raw: str, local_base: str | None,
               depth: int) -> Criterion | None:
    """One parameter of a search on ``rtype`` (``_UNKNOWN`` if not a parameter of it;
    None if it has no value). A chain (``subject:Patient.name``) parses its tail as a
    parameter of each target type."""
    head, dot, tail = key.partition(".")
    name, _, given = head.partition(":")
    modifier = given or None
    params = params_for(rtype)
    if dot:
        return _chain(rtype, params.get(name), name, modifier, tail, raw, local_base, depth)
    if name in SPECIAL:
        kind, sp = name, None
        if modifier is not None:
            raise _bad(f"modifier :{modifier} is not supported on {name}")
    elif name in params:
        sp = params[name]
        kind = sp.type
        if modifier is not None and modifier not in _MODIFIERS[kind]:  # None: every kind
            if kind != "reference" or not modifier[:1].isupper():
                raise _bad(f"modifier :{modifier} is not supported on {name}")
            _type_modifier(sp, modifier, known_only=False)
    else:
        return _UNKNOWN
    values = raw.split(",") if modifier == "missing" else split_values(raw)
    parsed = [_parse_value(kind, modifier, v, local_base) for v in values if v != ""]
    if not parsed:
        return None
    return Criterion(name, kind, modifier, parsed, sp)


def _type_modifier(sp: SearchParam, modifier: str, known_only: bool) -> None:
    """400 unless ``modifier`` is a resource type ``sp`` may point to (a served type when
    the search goes on through it, a chain)."""
    if known_only and modifier not in SUPPORTED_TYPES:
        raise _bad(f"{sp.name}:{modifier}: {modifier} is not a resource type this server "
                   "searches", path=f"{sp.name}:{modifier}")
    if not known_only and not is_resource_type(modifier):
        raise _bad(f"{sp.name}:{modifier}: {modifier} is not a FHIR resource type",
                   path=f"{sp.name}:{modifier}")
    if sp.targets and modifier not in sp.targets:
        raise _bad(f"{sp.name} does not refer to {modifier}", path=f"{sp.name}:{modifier}")


def _chain(rtype: str, sp: SearchParam | None, name: str, modifier: str | None, tail: str,
           raw: str, local_base: str | None, depth: int) -> Criterion | None:
    """A chained parameter: ``name[:Type].tail`` on the resources ``name`` refers to."""
    key = f"{name}{':' + modifier if modifier else ''}.{tail}"
    if sp is None or sp.type != "reference":
        raise _bad(f"{key}: {name} is not a reference search parameter of {rtype}, it "
                   "can't be chained", path=key)
    if depth >= MAX_CHAIN:
        raise _bad(f"{key}: chains of more than {MAX_CHAIN} references are not supported",
                   path=key)
    chained_name = tail.partition(".")[0].partition(":")[0]
    if modifier:
        _type_modifier(sp, modifier, known_only=True)
        types = [modifier]
    else:
        types = [t for t in (sp.targets or SUPPORTED_TYPES)
                 if chained_name in params_for(t) or chained_name in SPECIAL]
    values = []
    for target in types:
        inner = _criterion(target, tail, raw, local_base, depth + 1)
        if inner is _UNKNOWN:
            continue
        if inner is None:
            return None
        values.append(ChainValue(target, inner))
    if not values:
        where = modifier or "any type " + name + " refers to"
        raise _bad(f"{key}: {chained_name!r} is not a search parameter of {where}",
                   path=key)
    return Criterion(name, "chain", None, values, sp)


def _result_param(q: SearchQuery, name: str, modifier: str | None, raw: str, max_count: int,
                  unknown: Callable[..., None]) -> None:
    if name == "_count":
        count = int(raw) if re.fullmatch(r"[0-9]{1,9}", raw.strip()) else None
        if count is None:  # lenient: the default page size, and a warning in the Bundle
            unknown(f"_count must be a non-negative integer, not {raw!r}: "
                    f"the default page size {q.count} was used", code="value",
                    path="_count")
        else:
            q.count = min(count, max_count)
    elif name == "_cursor":
        q.cursor = Cursor.parse(raw)
    elif name == "_offset":
        try:
            q.offset = max(0, int(raw))
        except ValueError:
            raise BadRequest(f"_offset must be an integer, not {raw!r}") from None
    elif name in ("_include", "_revinclude"):
        if modifier not in (None, "iterate", "recurse"):  # recurse: the STU3 name
            raise _bad(f"{name}:{modifier} is not supported (only :iterate)")
        target = q.includes if name == "_include" else q.revincludes
        for text in raw.split(","):
            target.append(_include(text, name == "_revinclude", q.resource_type,
                                   modifier is not None))
    elif name == "_sort":
        params = params_for(q.resource_type)
        for item in raw.split(","):
            desc = item.startswith("-")
            sname = item.lstrip("-")
            if sname in SPECIAL or (sname in params and params[sname].type != "reference"):
                q.sort.append((sname, desc))
            else:
                unknown(f"_sort by {sname!r} is not supported and was ignored")
    elif name == "_total":
        if raw not in ("none", "estimate", "accurate"):
            raise BadRequest("_total must be none, estimate or accurate")
        q.total = raw
    elif name == "_summary":
        if raw not in SUMMARY_MODES:
            raise _bad(f"_summary must be one of {', '.join(SUMMARY_MODES)}, not {raw!r}",
                       code="value", path="_summary")
        q.summary = None if raw == "false" else raw
    elif name == "_elements":
        names = [n.strip() for n in raw.split(",") if n.strip()]
        # Patient.name is read as name; only top-level elements are subset
        q.elements += tuple(n.split(".", 1)[1] if "." in n and n[:1].isupper() else n
                            for n in names)
