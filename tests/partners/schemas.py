"""The agency-json JSON Schemas (fixtures/partners/agency-json/*.schema.json), loaded once."""

from __future__ import annotations

import json
from functools import cache, lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "partners" / "agency-json"
EXAMPLES = ROOT / "examples"
SCHEMAS = ("referral", "referral-state", "changes", "cancel", "problem")


@lru_cache(maxsize=1)
def _registry() -> tuple[Registry, dict[str, dict]]:
    docs = {name: json.loads((ROOT / f"{name}.schema.json").read_text()) for name in SCHEMAS}
    registry = Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in docs.values())
    return registry, docs


@cache
def validator(name: str) -> Draft202012Validator:
    registry, docs = _registry()
    schema = docs[name]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


def errors(name: str, instance) -> list[tuple[str, str]]:
    """(field path, message) of every violation of schema ``name``; [] when valid."""
    out = []
    for err in sorted(validator(name).iter_errors(instance), key=lambda e: list(e.path)):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
        out.append((path.lstrip(".") or "$", err.message))
    return out


def assert_valid(name: str, instance) -> None:
    found = errors(name, instance)
    assert not found, f"{name}: {found}"
