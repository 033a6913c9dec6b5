"""The generated R4 table (``r4_tables.json``), compiled once for the strict walk.

``r4_tables.json`` is produced by ``scripts/gen_fhir_tables.py`` from the official R4
definitions; this module only reads it. ``STRUCTURES`` maps a type name (``Patient``,
``HumanName``) or a backbone path (``Patient.contact``) to its ``Structure``;
``PRIMITIVES`` maps each primitive type to a checker answering an error message or None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from hub.fhirjson.codec import FhirDecimal

TABLE_FILE = Path(__file__).with_name("r4_tables.json")


@dataclass(slots=True)
class Element:
    name: str
    type: str
    min: int
    many: bool
    primitive: bool
    valueset: str | None = None
    #: system -> codes of the required value set (None: no binding or not enumerable)
    codes_by_system: dict[str, frozenset[str]] | None = None
    codes: frozenset[str] | None = None
    targets: frozenset[str] | None = None
    choice: str | None = None


@dataclass(slots=True)
class Structure:
    name: str
    elements: dict[str, Element]
    required: tuple[str, ...]
    choices: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    is_resource: bool = False


_NUMBER_TYPES = (int, float, FhirDecimal)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _calendar_ok(text: str) -> bool:
    if len(text) < 10:
        return True
    try:
        date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True


def _primitive_checker(name: str, json_kind: str, regex: str | None) -> Callable[[Any], str | None]:
    pattern = re.compile(regex) if regex else None
    dated = name in ("date", "dateTime", "instant")
    low, high = {"integer": (-2**31, 2**31 - 1), "unsignedInt": (0, 2**31 - 1),
                 "positiveInt": (1, 2**31 - 1)}.get(name, (None, None))

    if json_kind == "boolean":
        def check(value: Any) -> str | None:
            return None if value is True or value is False else \
                f"a {name} must be a JSON true or false, not {_shown(value)}"
    elif name == "decimal":
        def check(value: Any) -> str | None:
            if type(value) in _NUMBER_TYPES:
                return None
            return f"a decimal must be a JSON number, not {_shown(value)}"
    elif low is not None and high is not None:
        lowest, highest = low, high

        def check(value: Any) -> str | None:
            if type(value) is not int:
                return f"an {name} must be a JSON number without fraction or exponent, " \
                       f"not {_shown(value)}"
            if not lowest <= value <= highest:
                return f"{value} is out of the range of an {name} ({lowest}..{highest})"
            return None
    else:
        def check(value: Any) -> str | None:
            if type(value) is not str:
                return f"a {name} must be a JSON string, not {_shown(value)}"
            if not value:
                return f"an empty string is not a valid {name}"
            if pattern is not None and not pattern.fullmatch(value):
                return f"{_shown(value)} is not a valid {name}"
            if _CONTROL.search(value):
                return f"a {name} cannot contain control characters other than tab, CR, LF"
            if dated and not _calendar_ok(value):
                return f"{_shown(value)} is not a calendar date"
            if len(value) > 1048576:
                return f"the {name} is longer than 1 MiB"
            return None
    return check


def _shown(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return json.dumps(text)
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _load() -> tuple[dict[str, Structure], dict[str, Callable[[Any], str | None]], dict]:
    with open(TABLE_FILE, encoding="utf-8") as fh:
        raw = json.load(fh)
    valuesets = {url: ({s: frozenset(c) for s, c in vs.items()} if vs is not None else None)
                 for url, vs in raw["valueSets"].items()}
    primitives = {name: _primitive_checker(name, p["json"], p["regex"])
                  for name, p in raw["primitives"].items()}
    structures: dict[str, Structure] = {}
    for tname, entry in raw["types"].items():
        elements: dict[str, Element] = {}
        required = []
        for ename, spec in entry["elements"].items():
            etype, emin, emax, binding, targets = spec[:5]
            by_system = valuesets.get(binding) if binding else None
            codes = frozenset().union(*by_system.values()) if by_system else None
            el = Element(ename, etype, emin, emax != "1", etype in primitives, binding,
                         by_system, codes, frozenset(targets) if targets else None,
                         spec[5] if len(spec) > 5 else None)
            elements[ename] = el
            if emin and el.choice is None:
                required.append(ename)
        choices = {base: (c["min"], tuple(c["names"]))
                   for base, c in entry.get("choices", {}).items()}
        structures[tname] = Structure(tname, elements, tuple(required), choices,
                                      entry.get("kind") == "resource")
    return structures, primitives, raw


STRUCTURES, PRIMITIVES, _RAW = _load()
RESOURCE_TYPES: frozenset[str] = frozenset(_RAW["resourceTypes"])
#: structure -> keys of the R4 invariants its definition states (generated)
TABLE_INVARIANTS: dict[str, tuple[str, ...]] = {
    name: tuple(entry["invariants"]) for name, entry in _RAW["types"].items()
    if entry.get("invariants")}
#: structure -> {element: "SimpleQuantity" | "MoneyQuantity"}: Quantity elements of a profile
QUANTITY_PROFILES: dict[str, dict[str, str]] = {
    name: entry["quantityProfiles"] for name, entry in _RAW["types"].items()
    if entry.get("quantityProfiles")}
SUPPORTED: tuple[str, ...] = tuple(_RAW["supported"])
_CODE_SYSTEMS: dict[str, frozenset[str]] = {url: frozenset(codes) for url, codes in
                                            _RAW.get("codeSystems", {}).items()}


def code_system(url: str) -> frozenset[str] | None:
    """Every code of a complete HL7 code system the hub's terminology uses (None: not tabled)."""
    codes = _CODE_SYSTEMS.get(url)
    return codes


def value_set(url: str) -> dict[str, frozenset[str]] | None:
    """system -> codes of a required value set of the table (None if unknown/not enumerable)."""
    vs = _RAW["valueSets"].get(url)
    return {s: frozenset(c) for s, c in vs.items()} if vs else None


__all__ = [
    "PRIMITIVES",
    "QUANTITY_PROFILES",
    "RESOURCE_TYPES",
    "STRUCTURES",
    "SUPPORTED",
    "TABLE_INVARIANTS",
    "Element",
    "Structure",
    "code_system",
    "value_set",
]
