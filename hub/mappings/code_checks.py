"""Codes and identifiers of case input that could never become valid FHIR, found before storing.

Pure functions over ``hub.cases`` values (no Flask, SQL, HTTP). Every ``Code`` must have an
absolute URI as system and a FHIR ``code`` (no leading/trailing or double whitespace); a code
of a system whose every code the hub knows (its own CodeSystems in ``hub.mappings.codes``,
and the complete HL7 code systems those tables use, from the generated R4 table) must be one
of them. Every ``Identifier.system`` must be an absolute URI. A birth date is not in the
future. ``problems(value)`` answers ``{json path: [message]}`` with the case API's field
names (the dataclass names) and list indexes: ``care_team.0.role.system``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date, timedelta
from enum import Enum
from typing import Any

from hub import cases as c
from hub.clock import utcnow
from hub.fhirjson.tables import code_system
from hub.mappings import codes as terms

#: scheme ":" then no whitespace; http(s), ftp need an authority ("//host")
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_NEEDS_AUTHORITY = re.compile(r"^(https?|ftp):", re.IGNORECASE)
_FHIR_CODE = re.compile(r"^[^\s]+( [^\s]+)*$")


def _hub_code_systems() -> dict[str, frozenset[str]]:
    """system -> codes of the hub's own CodeSystems, from the tables of ``codes``."""
    found: dict[str, set[str]] = {}

    def add(value: Any) -> None:
        if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[0], str) \
                and isinstance(value[1], str) and value[0].startswith(terms.HUB_CANONICAL) \
                and "/CodeSystem/" in value[0]:
            found.setdefault(value[0], set()).add(value[1])

    for name, table in vars(terms).items():
        if name.startswith("_"):
            continue
        if isinstance(table, dict):
            for key, value in table.items():
                add(key)
                add(value)
        else:
            add(table)
    # the systems whose codes are the values of a case enum, written one to one
    for system, enum in ((terms.CASE_STATUS_SYSTEM, c.CaseStatus),
                         (terms.DECISION_STATUS_SYSTEM, c.DecisionStatus)):
        found.setdefault(system, set()).update(m.value for m in enum)
    return {system: frozenset(codes) for system, codes in found.items()}


HUB_CODE_SYSTEMS = _hub_code_systems()


def absolute_uri(text: str) -> bool:
    if not _ABSOLUTE_URI.match(text):
        return False
    if _NEEDS_AUTHORITY.match(text):
        return text.split(":", 1)[1].startswith("//") and len(text.split(":", 1)[1]) > 2
    return True


def known_codes(system: str) -> frozenset[str] | None:
    """Every code of ``system`` if the hub knows them all, else None (SNOMED, LOINC, ...)."""
    return HUB_CODE_SYSTEMS.get(system) or code_system(system)


def code_problems(code: c.Code) -> dict[str, list[str]]:
    """{"system"|"code": [message]} for one coded value."""
    out: dict[str, list[str]] = {}
    if not absolute_uri(code.system):
        out["system"] = [f"Not an absolute URI: {code.system[:60]!r} (a FHIR code system is "
                         "identified by its URI, e.g. http://snomed.info/sct)."]
        return out
    if not _FHIR_CODE.match(code.code):
        out["code"] = ["Not a valid FHIR code (no leading, trailing or repeated whitespace)."]
        return out
    allowed = known_codes(code.system)
    if allowed is not None and code.code not in allowed:
        out["code"] = [f"{code.code[:40]!r} is not a code of {code.system}."]
    return out


def problems(value: Any, today: date | None = None) -> dict[str, Any]:
    """Nested ``{field: {index: {field: [message]}}}`` of everything wrong in ``value``."""
    latest_birth = today or (utcnow() + timedelta(hours=14)).date()
    return _walk(value, latest_birth) or {}


_LEAVES = (str, int, float, date, Enum, type(None))  # nothing to check in or under them


def _walk(value: Any, latest_birth: date) -> dict[Any, Any] | None:
    if isinstance(value, _LEAVES):
        return None
    if isinstance(value, c.Code):
        return code_problems(value) or None
    if isinstance(value, c.Identifier):
        if not absolute_uri(value.system):
            return {"system": [f"Not an absolute URI: {value.system[:60]!r}."]}
        return None
    if isinstance(value, (list, tuple)):
        items = {i: sub for i, item in enumerate(value) if (sub := _walk(item, latest_birth))}
        return items or None
    if isinstance(value, dict):
        keyed = {k: sub for k, item in value.items() if (sub := _walk(item, latest_birth))}
        return keyed or None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields_found: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            sub = _walk(getattr(value, f.name), latest_birth)
            if sub:
                fields_found[f.name] = sub
        if isinstance(value, c.Patient) and value.birth_date is not None \
                and value.birth_date > latest_birth:
            fields_found["birth_date"] = ["Must not be in the future."]
        return fields_found or None
    return None


__all__ = ["HUB_CODE_SYSTEMS", "absolute_uri", "code_problems", "known_codes", "problems"]
