"""Parsing a FHIR search request into a ``SearchQuery`` (pure: no Flask, no SQL).

Parameters with the same name are ANDed, comma-separated values are ORed. Unknown
parameters are dropped with a warning, or refused under ``Prefer: handling=strict``;
a value that can't be parsed (a bad date, an unsupported modifier) is always a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from hub.errors import BadRequest, Issue
from hub.fhirstore.dates import date_range
from hub.fhirstore.searchparams import SPECIAL, SearchParam, params_for, split_reference

DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
_MODIFIERS = {
    "token": {None, "not", "missing"},
    "reference": {None, "missing"},
    "string": {None, "exact", "contains", "missing"},
    "date": {None, "missing"},
    "number": {None, "missing"},
}
_RESULT_PARAMS = {"_count", "_offset", "_sort", "_include", "_revinclude", "_total",
                  "_summary", "_format", "_pretty"}


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


@dataclass
class Criterion:
    """One search parameter occurrence: its values are ORed."""

    name: str
    kind: str  # token | reference | date | string | number | _id | _lastUpdated
    modifier: str | None
    values: list
    param: SearchParam | None = None


@dataclass(frozen=True)
class Include:
    source: str  # resource type holding the reference, or "*"
    param: str  # reference parameter name, or "*"
    target: str | None = None


@dataclass
class SearchQuery:
    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (name, descending)
    count: int = 20
    offset: int = 0
    total: str = "accurate"
    summary: str | None = None
    warnings: list[str] = field(default_factory=list)
    used: list[tuple[str, str]] = field(default_factory=list)  # kept params, for links
    compartment: str | None = None  # the Organization a bound caller is restricted to

    def link_query(self, offset: int | None = None) -> str:
        """The query string of a link to this search (at ``offset``)."""
        items = list(self.used)
        items += [("_include", _include_text(i)) for i in self.includes]
        items += [("_revinclude", _include_text(i)) for i in self.revincludes]
        if self.sort:
            items.append(("_sort", ",".join(("-" if d else "") + n for n, d in self.sort)))
        if self.summary:
            items.append(("_summary", self.summary))
        if self.total != "accurate":
            items.append(("_total", self.total))
        items.append(("_count", str(self.count)))
        if offset:
            items.append(("_offset", str(offset)))
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


def parse_reference(text: str, type_modifier: str | None) -> RefValue:
    target = split_reference(text)
    if target is None:
        raise BadRequest(f"not a valid reference search value: {text!r}")
    rtype, rid = target
    return RefValue(type_modifier or rtype, rid)


def _parse_value(kind: str, modifier: str | None, text: str):
    if modifier == "missing":
        if text not in ("true", "false"):
            raise BadRequest(":missing takes true or false")
        return text == "true"
    if kind in ("token", "_id"):
        return parse_token(text) if kind == "token" else text
    if kind in ("date", "_lastUpdated"):
        return parse_date(text)
    if kind == "reference":
        return parse_reference(text, modifier)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise BadRequest(f"not a number: {text!r}") from None
    return text


def _include(text: str, rev: bool, resource_type: str) -> Include:
    if text == "*":
        return Include("*", "*")
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
    if not rev and source != resource_type:
        raise BadRequest(f"_include {text!r} does not start with {resource_type}")
    return Include(source, param, parts[2] if len(parts) == 3 else None)


def parse_search(resource_type: str, items: list[tuple[str, str]], *, strict: bool = False,
                 default_count: int = 20, max_count: int = 200) -> SearchQuery:
    """Parse ``items`` (name, value) of a search on ``resource_type``; BadRequest if bad."""
    q = SearchQuery(resource_type, count=default_count)
    params = params_for(resource_type)

    def unknown(message: str, code: str = "not-supported", path: str | None = None) -> None:
        if strict:
            raise BadRequest(message, issues=[Issue(message, code=code, path=path)])
        q.warnings.append(message)

    for key, raw in items:
        name, _, modifier = key.partition(":")
        modifier = modifier or None
        if name in _RESULT_PARAMS:
            _result_param(q, name, modifier, raw, max_count, unknown)
            continue
        if name in SPECIAL:
            kind, sp = name, None
            if modifier is not None:
                raise BadRequest(f"modifier :{modifier} is not supported on {name}")
        elif name in params:
            sp = params[name]
            kind = sp.type
            allowed = _MODIFIERS[kind]
            type_modifier = kind == "reference" and modifier and modifier[:1].isupper()
            if modifier not in allowed and not type_modifier:
                raise BadRequest(f"modifier :{modifier} is not supported on {name}",
                                 issues=[Issue(f"modifier :{modifier} is not supported on "
                                               f"{name}", code="not-supported")])
        else:
            unknown(f"unknown search parameter {key!r} on {resource_type} was ignored")
            continue
        values = raw.split(",") if modifier == "missing" else split_values(raw)
        parsed = [_parse_value(kind, modifier, v) for v in values if v != ""]
        if not parsed:
            continue
        q.criteria.append(Criterion(name, kind, modifier, parsed, sp))
        q.used.append((key, raw))
    return q


def _result_param(q: SearchQuery, name: str, modifier, raw: str, max_count: int,
                  unknown) -> None:
    if name == "_count":
        count = int(raw) if re.fullmatch(r"[0-9]{1,9}", raw.strip()) else None
        if count is None:  # lenient: the default page size, and a warning in the Bundle
            unknown(f"_count must be a non-negative integer, not {raw!r}: "
                    f"the default page size {q.count} was used", code="value",
                    path="_count")
        else:
            q.count = min(count, max_count)
    elif name == "_offset":
        try:
            q.offset = max(0, int(raw))
        except ValueError:
            raise BadRequest(f"_offset must be an integer, not {raw!r}") from None
    elif name in ("_include", "_revinclude"):
        target = q.includes if name == "_include" else q.revincludes
        for text in raw.split(","):
            target.append(_include(text, name == "_revinclude", q.resource_type))
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
        if raw == "count":
            q.summary = "count"
        elif raw != "false":
            unknown(f"_summary={raw} is not supported and was ignored")
