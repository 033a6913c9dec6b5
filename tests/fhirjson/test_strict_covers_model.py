"""The strict pass accepts nothing the R4B models refuse (they are its oracle here).

Incoming resources are validated by the strict pass alone (``hub.fhirapi.validation``); the
R4B models of ``fhir.resources`` no longer run a second time over them. This test keeps the
reason true: valid resources (the repository's fixtures and ../shared/fhir-examples) and
seeded mutations of them (an element set to a value of another type or format, removed, or
an element added) are checked by both, and whatever the strict pass accepts the models
must accept too. Nothing the strict pass is given may crash it either.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

from pydantic import ValidationError

from hub.fhir import parse_resource
from hub.fhirjson import codec
from hub.fhirjson.strict import check_resource
from hub.fhirstore.searchparams import SUPPORTED_TYPES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "fixtures", ROOT / "tests" / "fixtures",
           (ROOT / ".." / "shared" / "fhir-examples").resolve()]
VALUES = ["", " ", "x", " code", "a  b", 0, 1, -1, 1.5, 0.1, 2**31, True, False, None, [], {},
          ["x"], {"a": 1}, "2025-13-01", "2025-02-30", "2025-01-01T10:00:00",
          "2025-01-01T10:00:00Z", "2025-01-01T25:00:00Z", "2025", "10:00:00", "24:00:00",
          "urn:x", "http://x/y", "http://x y", "Patient/1", "#c", "a\tb", "\u00e9", "0", "1.0",
          "\u0001", "a" * 70, "+1", "Zm9", "urn:oid:1.2.3", {"reference": "Patient/1"},
          {"coding": [{"code": "x"}]}, [{"x": 1}], "true", "<div>x</div>"]
ADDED = ["foo", "extension", "id", "text", "modifierExtension", "contained"]


def _valid_resources() -> list[dict]:
    found = []
    for source in SOURCES:
        for path in sorted(source.rglob("*.json")) if source.is_dir() else []:
            try:
                data = codec.loads(path.read_bytes())
            except ValueError:
                continue
            stack = [data]
            while stack:
                node = stack.pop()
                if isinstance(node, dict):
                    if node.get("resourceType") in SUPPORTED_TYPES and not check_resource(node):
                        found.append(node)
                    stack.extend(node.values())
                elif isinstance(node, list):
                    stack.extend(node)
    return found


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*path, i))


def _mutated(resource: dict, rng: random.Random) -> dict:
    out = copy.deepcopy(resource)
    paths = [p for p in _paths(out) if p and p[0] != "resourceType"]
    path = rng.choice(paths)
    parent = out
    for key in path[:-1]:
        parent = parent[key]
    roll = rng.random()
    if roll < 0.7:
        parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    elif roll < 0.85:
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[rng.choice(ADDED)] = copy.deepcopy(rng.choice(VALUES))
    return out


def test_what_the_strict_pass_accepts_the_r4b_models_accept():
    resources = _valid_resources()
    assert len(resources) > 50, "too few valid resources to start from"
    rng = random.Random(13)
    accepted = 0
    for n in range(3000):
        body = _mutated(rng.choice(resources), rng) if n >= len(resources) else resources[n]
        if check_resource(body):
            continue
        accepted += 1
        try:
            parse_resource(body)
        except ValidationError as exc:
            raise AssertionError(f"the strict pass accepts what R4B refuses: {body}\n{exc}") \
                from None
    assert accepted > 500
