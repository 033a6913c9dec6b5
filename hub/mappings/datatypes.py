"""FHIR R4 datatypes <-> case value objects, shared by the mappings (pure functions)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol, TypeVar, cast, overload

from hub import cases
from hub.mappings.codes import (
    GOAL_ACHIEVEMENT_CODES,
    IDENTIFIER_KIND,
    IDENTIFIER_KIND_FROM,
    V2_0203,
)
from hub.mappings.errors import MappingError, Report

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Part(Protocol):
    id: str


def position(items: Iterable[_Part], item: _Part) -> int | None:
    """1-based position of ``item`` (by id) among ``items``, None if it is not there: the
    rank of an encounter, a referral or a funding source in its case list."""
    return next((i for i, x in enumerate(items, start=1) if x.id == item.id), None)


# --- dates ------------------------------------------------------------------------------

def fhir_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def fhir_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise MappingError("dateTime", "a dateTime with a time needs a timezone")
    return value.isoformat()


def parse_date(value: str | None, path: str) -> date | None:
    """A FHIR date (or the date part of a dateTime); partial dates are refused."""
    if value is None:
        return None
    text = value[:10]
    if not _DATE.match(text):
        raise MappingError(path, f"date {value!r} is not a full date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise MappingError(path, f"invalid date {value!r}") from exc


@overload
def parse_datetime(value: str, path: str) -> datetime: ...
@overload
def parse_datetime(value: str | None, path: str) -> datetime | None: ...
def parse_datetime(value: str | None, path: str) -> datetime | None:
    """A FHIR dateTime with time and timezone; a bare date becomes midnight UTC."""
    if value is None:
        return None
    if _DATE.match(value):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MappingError(path, f"dateTime {value!r} is not a full dateTime") from exc
    if parsed.tzinfo is None:
        raise MappingError(path, f"dateTime {value!r} has no timezone")
    return parsed


def period_to_fhir(period: cases.Period | None) -> dict[str, Any] | None:
    if period is None or (period.start is None and period.end is None):
        return None
    out = {}
    if period.start is not None:
        out["start"] = fhir_date(period.start)
    if period.end is not None:
        out["end"] = fhir_date(period.end)
    return out


def period_from_fhir(data: dict[str, Any] | None, path: str) -> cases.Period | None:
    if not data or ("start" not in data and "end" not in data):
        return None
    return cases.Period(start=parse_date(data.get("start"), f"{path}.start"),
                        end=parse_date(data.get("end"), f"{path}.end"))


# --- codes ------------------------------------------------------------------------------

def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out


def code_to_coding(code: cases.Code) -> dict[str, Any]:
    return coding(code.system, code.code, code.display)


def code_to_concept(code: cases.Code) -> dict[str, Any]:
    return {"coding": [code_to_coding(code)]}


def code_from_coding(data: dict[str, Any]) -> cases.Code | None:
    if not data or not data.get("system") or not data.get("code"):
        return None
    return cases.Code(system=data["system"], code=data["code"], display=data.get("display"))


@overload
def code_from_concept(data: dict[str, Any] | None, path: str,
                      required: Literal[True] = True) -> cases.Code: ...
@overload
def code_from_concept(data: dict[str, Any] | None, path: str, required: bool) -> cases.Code | None: ...
def code_from_concept(data: dict[str, Any] | None, path: str, required: bool = True) -> cases.Code | None:
    """The first coding with system and code of a CodeableConcept."""
    for c in (data or {}).get("coding") or []:
        code = code_from_coding(c)
        if code is not None:
            return code
    if required:
        raise MappingError(path, "a coding with system and code is required")
    return None


_T = TypeVar("_T")


def table_code(table_from: Mapping[Any, _T], system: str | None,
               code: str | None) -> _T | None:
    """Look a (system, code) or plain code up in a reverse table."""
    if system is not None and code is not None and (system, code) in table_from:
        return table_from[(system, code)]
    return table_from.get(code) if code is not None else None


def concept_lookup(data: dict[str, Any] | None, table_from: Mapping[Any, _T],
                   path: str, report: Report) -> _T | None:
    """The enum value for the first known coding of a CodeableConcept; unknown ones reported."""
    codings = (data or {}).get("coding") or []
    for c in codings:
        found = table_code(table_from, c.get("system"), c.get("code"))
        if found is not None:
            return found
    for c in codings:
        report.unknown_code(path, c.get("system"), c.get("code"), c.get("display"))
    return None


def first_text(concepts: list[dict[str, Any]] | None, path: str, report: Report) -> str | None:
    """The text of the first CodeableConcept that has one (a reason the case keeps as
    text); each other concept is reported as not kept, at ``path[i]``."""
    found = None
    for i, concept_ in enumerate(concepts or []):
        if concept_.get("text") and found is None:
            found = str(concept_["text"])
        else:
            report.unsupported(f"{path}[{i}]", "only the first reason text is kept")
    return found


def achievement_concept(value: cases.GoalAchievement) -> dict[str, Any]:
    system, code, display = GOAL_ACHIEVEMENT_CODES[value]
    return concept(system, code, display)


# --- identifiers and parties --------------------------------------------------------------

def identifier_to_fhir(ident: cases.Identifier) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if ident.kind in IDENTIFIER_KIND:
        out["type"] = concept(*IDENTIFIER_KIND[ident.kind])
    out["system"] = ident.system
    out["value"] = ident.value
    return out


def identifier_from_fhir(data: dict[str, Any], path: str, report: Report) -> cases.Identifier | None:
    """An Identifier with system and value; others are reported (and stay in the resource)."""
    if not data.get("system") or not data.get("value"):
        report.unsupported(path, "identifier without system or value is not kept on the case")
        return None
    kind = cases.IdentifierKind.OTHER
    codings = ((data.get("type") or {}).get("coding")) or []
    for c in codings:
        found = table_code(IDENTIFIER_KIND_FROM, c.get("system"), c.get("code"))
        if found is not None:
            kind = found
            break
    else:
        for c in codings:
            if c.get("system") != V2_0203 or c.get("code"):
                report.unknown_code(f"{path}.type", c.get("system"), c.get("code"),
                                    c.get("display"))
    return cases.Identifier(system=data["system"], value=data["value"], kind=kind)


def party_to_reference(party: cases.Party) -> dict[str, Any]:
    ref: dict[str, Any] = {}
    if party.reference:
        ref["reference"] = party.reference
    if party.identifier is not None:
        ref["identifier"] = identifier_to_fhir(party.identifier)
    ref["display"] = party.name
    return ref


def party_from_reference(data: dict[str, Any] | None, path: str, report: Report) -> cases.Party | None:
    if not data:
        return None
    name = data.get("display") or data.get("reference") or (
        (data.get("identifier") or {}).get("value"))
    if not name:
        raise MappingError(path, "a reference needs a display, reference or identifier")
    ident = None
    if data.get("identifier"):
        ident = identifier_from_fhir(data["identifier"], f"{path}.identifier", report)
    return cases.Party(name=name, identifier=ident, reference=data.get("reference"))


# --- contact ----------------------------------------------------------------------------

def address_to_fhir(address: cases.Address) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if address.lines:
        out["line"] = list(address.lines)
    for key, attr in (("city", "city"), ("state", "state"), ("postalCode", "postal_code"),
                      ("country", "country")):
        if getattr(address, attr) is not None:
            out[key] = getattr(address, attr)
    return out


def address_from_fhir(data: dict[str, Any]) -> cases.Address:
    return cases.Address(lines=list(data.get("line") or []), city=data.get("city"),
                         state=data.get("state"), postal_code=data.get("postalCode"),
                         country=data.get("country"))


def contact_to_fhir(contact: cases.Contact | None) -> dict[str, Any]:
    """``{"telecom": [...], "address": [...]}`` elements for a Contact (may be empty)."""
    out: dict[str, Any] = {}
    if contact is None:
        return out
    telecom = []
    if contact.phone:
        telecom.append({"system": "phone", "value": contact.phone})
    if contact.email:
        telecom.append({"system": "email", "value": contact.email})
    if telecom:
        out["telecom"] = telecom
    if contact.address is not None:
        addr = address_to_fhir(contact.address)
        if addr:
            out["address"] = [addr]
    return out


def contact_from_fhir(resource: dict[str, Any]) -> cases.Contact | None:
    """The first phone, first email and first (home preferred) address of a resource."""
    phone = email = None
    for t in resource.get("telecom") or []:
        if t.get("system") == "phone" and phone is None and t.get("value"):
            phone = t["value"]
        elif t.get("system") == "email" and email is None and t.get("value"):
            email = t["value"]
    addresses = resource.get("address") or []
    if isinstance(addresses, dict):  # Organization/RelatedPerson: list; tolerate a single one
        addresses = [addresses]
    address = None
    if addresses:
        home = [a for a in addresses if a.get("use") == "home"]
        address = address_from_fhir((home or addresses)[0])
        if address == cases.Address():
            address = None
    if phone is None and email is None and address is None:
        return None
    return cases.Contact(phone=phone, email=email, address=address)


# --- extensions and narrative -------------------------------------------------------------

def ext(url: str, **value: Any) -> dict[str, Any]:
    """An extension ``{"url": url, "value<Type>": v}`` (pass e.g. ``valueString="x"``)."""
    (key, val), = value.items()
    return {"url": url, key: val}


def find_ext(element: dict[str, Any], url: str) -> dict[str, Any] | None:
    for e in element.get("extension") or []:
        if e.get("url") == url:
            return cast(dict[str, Any], e)
    return None


def find_exts(element: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension") or [] if e.get("url") == url]


def narrative(title: str, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """A generated XHTML narrative: a heading and a list of ``label: value`` lines."""
    items = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in rows if v)
    body = f"<p><b>{html.escape(title)}</b></p>" + (f"<ul>{items}</ul>" if items else "")
    return {"status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def local_ref(ref: str | None) -> str | None:
    """``Type/id`` of a reference (relative, absolute URL or with _history); else as is."""
    if not ref or ref.startswith(("#", "urn:")):
        return ref
    parts = ref.split("/")
    if "_history" in parts:
        parts = parts[:parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref
