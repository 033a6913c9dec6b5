"""The strict pass over a FHIR R4 JSON resource: one walk with the precomputed R4 table.

Checked, each failure an ``Issue`` with a FHIRPath-like ``path`` (``Patient.name[0].given``):

* JSON types exactly as R4 JSON defines them (no ``"true"`` for a boolean, no ``"2"`` for
  an integer, no ``1.0e-400`` for an integer), primitive formats (the R4 regexes, calendar
  dates, integer ranges);
* no unknown elements, no null, no empty object, array or string; primitive extensions
  (``_given``) line up with their values (null only as a placeholder in such arrays);
* cardinality (arrays only where the element repeats, required elements, one choice type);
* required bindings of every element (codes, Codings, CodeableConcepts), contained resources
  included; reference target types (``Observation.subject`` = ``Medication/x`` is refused);
* the contained rules (dom-2..5) and the core invariants in ``hub.fhirjson.invariants``.

``structural`` issues (400: the resource cannot be read as R4) are told apart from ``rule``
issues (bindings, invariants, reference targets: 422).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hub.errors import Issue, ValidationFailed
from hub.fhirjson.invariants import INVARIANTS, ROOTED
from hub.fhirjson.tables import PRIMITIVES, RESOURCE_TYPES, STRUCTURES, Element, Structure
from hub.fhirjson.xhtml import xhtml_problem

STRUCTURAL_CODES = frozenset({"structure", "required", "value", "not-supported"})

_REF_RE = re.compile(r"^(?:(?:https?://\S*?/)?([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}"
                     r"(?:/_history/[A-Za-z0-9\-.]{1,64})?)$")

_PRIMITIVE_EXTENSION = Structure("Element", {
    "id": Element("id", "string", 0, False, True),
    "extension": Element("extension", "Extension", 0, True, False),
}, ())


@dataclass
class _Root:
    """What the walk of one resource collects: local references and contained ids."""

    issues: list[Issue] = field(default_factory=list)
    nested: bool = True  # walk resources inside (Bundle.entry.resource) or leave them
    local_refs: set[str] = field(default_factory=set)
    contained: dict[str, str | None] = field(default_factory=dict)  # id -> resourceType


def check_resource(data: Any, path: str | None = None, *, nested: bool = True) -> list[Issue]:
    """Every strict-pass issue of a resource (empty list: it passes). ``nested=False`` leaves
    the resources inside a Bundle or Parameters unchecked (the caller checks them alone)."""
    root = _Root(nested=nested)
    try:
        _resource(data, path, root, depth=0)
    except RecursionError:
        root.issues.append(Issue("the resource is nested too deeply to be read", code="structure",
                                 path=path or "$"))
    return root.issues


def require_valid_outgoing(resource: dict) -> None:
    """Nothing invalid leaves the hub: a resource about to be stored and sent to a partner
    must pass the strict pass, else the write that made it fails (422, each FHIR path named,
    prefixed with the resource) and nothing is stored or queued."""
    issues = check_resource(resource)
    if not issues:
        return
    ref = f"{resource.get('resourceType')}/{resource.get('id')}"
    for issue in issues:
        issue.message = f"{ref}: {issue.message}"
        issue.code = "business-rule" if issue.code in STRUCTURAL_CODES else issue.code
    raise ValidationFailed(f"the write would send invalid FHIR ({ref}, {len(issues)} "
                           "issue(s)); nothing was stored", issues=issues)


def has_structural(issues: list[Issue]) -> bool:
    return any(i.code in STRUCTURAL_CODES for i in issues)


def _issue(root: _Root, message: str, path: str, code: str = "structure") -> None:
    root.issues.append(Issue(message, code=code, path=path))


def _resource(data: Any, path: str | None, root: _Root, depth: int) -> None:
    if not isinstance(data, dict):
        _issue(root, "a resource must be a JSON object", path or "$")
        return
    rtype = data.get("resourceType")
    if not isinstance(rtype, str):
        _issue(root, "the resource has no resourceType", f"{path}.resourceType" if path
               else "resourceType", "required")
        return
    here = path or rtype
    structure = STRUCTURES.get(rtype)
    if structure is None or not structure.is_resource:
        known = rtype in RESOURCE_TYPES
        _issue(root, f"resource type {rtype} is not supported here" if known
               else f"unknown resource type {rtype!r}", f"{here}.resourceType",
               "not-supported" if known else "structure")
        return
    if depth == 0:
        contained = data.get("contained")
        if isinstance(contained, list):
            for res in contained:
                if isinstance(res, dict) and isinstance(res.get("id"), str):
                    root.contained[res["id"]] = res.get("resourceType")
    if "_id" in data:
        _issue(root, "a resource id cannot have extensions", f"{here}.id")
    _object(data, structure, here, root, resource_depth=depth)
    if depth == 0 and root.contained:
        for i, res in enumerate(data.get("contained") or []):
            rid = res.get("id") if isinstance(res, dict) else None
            if isinstance(rid, str) and rid not in root.local_refs:
                _issue(root, f"the contained resource {rid!r} is not referenced from elsewhere "
                       "in the resource (dom-3)", f"{here}.contained[{i}]", "invariant")


def _object(obj: Any, structure: Structure, path: str, root: _Root,
            resource_depth: int = -1) -> None:
    if type(obj) is not dict:
        _issue(root, f"{structure.name.rsplit('.', 1)[-1]} must be a JSON object, "
               f"not {_kind(obj)}", path)
        return
    if not obj:
        _issue(root, "an empty object is not allowed", path)
        return
    elements = structure.elements
    before = len(root.issues)
    for key, value in obj.items():
        if key == "resourceType" and resource_depth >= 0:
            continue
        if key[:1] == "_":
            el = elements.get(key[1:])
            if el is None or not el.primitive:
                _issue(root, f"unknown element {key!r}", f"{path}.{key}")
            else:
                _primitive_extension(value, el, obj.get(key[1:]), f"{path}.{key[1:]}", root)
            continue
        el = elements.get(key)
        if el is None:
            _issue(root, f"unknown element {key!r}", f"{path}.{key}")
            continue
        here = f"{path}.{key}"
        if value is None:
            _issue(root, "null is not allowed", here)
            continue
        if el.many:
            if type(value) is not list:
                _issue(root, f"{key} repeats: it must be a JSON array", here)
                continue
            if not value:
                _issue(root, "an empty array is not allowed", here)
                continue
            ext = obj.get("_" + key) if el.primitive else None
            for i, item in enumerate(value):
                if item is None:
                    if not (type(ext) is list and i < len(ext) and ext[i] is not None):
                        _issue(root, "null is not allowed here", f"{here}[{i}]")
                    continue
                _value(item, el, f"{here}[{i}]", root, resource_depth)
        elif type(value) is list:
            _issue(root, f"{key} does not repeat: it must not be an array", here)
        else:
            _value(value, el, here, root, resource_depth)
    for name in structure.required:
        if name not in obj and "_" + name not in obj:
            _issue(root, f"{name} is required", f"{path}.{name}", "required")
    for base, (minimum, names) in structure.choices.items():
        present = [n for n in names if n in obj or "_" + n in obj]
        if len(present) > 1:
            _issue(root, f"only one {base}[x] may be present, not {', '.join(present)}",
                   f"{path}.{present[1]}")
        elif minimum and not present:
            _issue(root, f"{base}[x] is required", path, "required")
    if has_structural(root.issues[before:]):
        return  # the invariants read elements of the types R4 gives them: 400 already
    checks = INVARIANTS.get(structure.name)
    if checks:
        for check in checks:
            for message, where, key in check(obj):
                _issue(root, f"{message} ({key})", f"{path}{where}", "invariant")
    rooted = ROOTED.get(structure.name)
    if rooted:
        for check2 in rooted:
            for message, where, key in check2(obj, root.contained):
                _issue(root, f"{message} ({key})", f"{path}{where}", "invariant")


def _value(value: Any, el: Element, path: str, root: _Root, resource_depth: int) -> None:
    if el.primitive:
        problem = PRIMITIVES[el.type](value)
        if problem:
            _issue(root, problem, path, "value")
        elif el.type == "xhtml":
            problem = xhtml_problem(value)
            if problem:
                _issue(root, problem, path, "value")
        elif el.codes is not None and value not in el.codes:
            _issue(root, f"{_short(value)!r} is not in the required value set {el.valueset}",
                   path, "code-invalid")
        return
    if el.type == "Resource":
        if el.name != "contained":  # Bundle.entry.resource, Parameters.parameter.resource
            if not root.nested:
                if type(value) is not dict:
                    _issue(root, "a resource must be a JSON object", path)
                return
            inner = _Root(root.issues)
            _resource(value, path, inner, depth=0)
            return
        if resource_depth > 0:
            _issue(root, "a contained resource cannot contain resources (dom-2)", path,
                   "invariant")
            return
        _contained(value, path, root)
        return
    structure = STRUCTURES.get(el.type)
    if structure is None:
        _issue(root, f"type {el.type} is not supported here", path, "not-supported")
        return
    _object(value, structure, path, root)
    if type(value) is not dict:
        return
    if el.codes_by_system is not None:
        _binding(value, el, path, root)
    if el.type == "Reference":
        _reference(value, el, path, root)


def _contained(value: Any, path: str, root: _Root) -> None:
    before = len(root.issues)
    _resource(value, path, root, depth=1)
    if len(root.issues) > before or not isinstance(value, dict):
        return
    if "id" not in value:
        _issue(root, "a contained resource needs an id", f"{path}.id", "required")
    meta = value.get("meta")
    if isinstance(meta, dict):
        if "versionId" in meta or "lastUpdated" in meta:
            _issue(root, "a contained resource cannot have meta.versionId or meta.lastUpdated "
                   "(dom-4)", f"{path}.meta", "invariant")
        if "security" in meta:
            _issue(root, "a contained resource cannot have meta.security (dom-5)",
                   f"{path}.meta.security", "invariant")


def _in_valueset(coding: dict, el: Element) -> bool:
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(code, str) or not isinstance(system, (str, type(None))):
        return False  # not JSON strings: refused as such by the walk
    if system is None:
        return code in el.codes  # type: ignore[operator]
    codes = el.codes_by_system.get(system)  # type: ignore[union-attr]
    return codes is not None and code in codes


def _binding(value: dict, el: Element, path: str, root: _Root) -> None:
    if el.type == "Coding":
        if "code" in value and not _in_valueset(value, el):
            _issue(root, f"{value.get('system')}|{_short(value.get('code'))} is not in the "
                   f"required value set {el.valueset}", path, "code-invalid")
    elif el.type == "CodeableConcept":
        coding = value.get("coding")
        codings = [c for c in coding if isinstance(c, dict) and "code" in c] \
            if isinstance(coding, list) else []
        if codings and not any(_in_valueset(c, el) for c in codings):
            _issue(root, f"none of the codings is in the required value set {el.valueset}",
                   f"{path}.coding", "code-invalid")


def _reference(value: dict, el: Element, path: str, root: _Root) -> None:
    ref = value.get("reference")
    if type(ref) is not str:
        return
    target = None
    if ref.startswith("#"):
        root.local_refs.add(ref[1:])
        if ref != "#":
            target = root.contained.get(ref[1:])
            if target is None:
                _issue(root, f"{ref} names no contained resource (ref-1)",
                       f"{path}.reference", "invariant")
                return
    elif ref.startswith(("urn:uuid:", "urn:oid:")):
        return
    else:
        match = _REF_RE.match(ref)
        if match is None:
            return
        target = match.group(1)
        if target not in RESOURCE_TYPES:
            _issue(root, f"{ref!r} names no R4 resource type", f"{path}.reference",
                   "invariant")
            return
    if el.targets is not None and type(target) is str and target not in el.targets:
        _issue(root, f"a reference to {target} is not allowed here (allowed: "
               f"{', '.join(sorted(el.targets))})", f"{path}.reference", "invariant")


def _primitive_extension(value: Any, el: Element, base: Any, path: str, root: _Root) -> None:
    if el.many:
        if type(value) is not list or not value:
            _issue(root, "the primitive extensions of a repeating element must be a "
                   "non-empty JSON array", f"{path}")
            return
        if base is not None and (type(base) is not list or len(base) != len(value)):
            _issue(root, f"_{path.rsplit('.', 1)[-1]} must have as many entries as its "
                   "values", path)
            return
        for i, item in enumerate(value):
            if item is None:
                if base is None:
                    _issue(root, "null is not allowed here", f"{path}[{i}]")
                continue
            _object(item, _PRIMITIVE_EXTENSION, f"{path}[{i}]", root)
        return
    if value is None:
        _issue(root, "null is not allowed", path)
        return
    _object(value, _PRIMITIVE_EXTENSION, path, root)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["STRUCTURAL_CODES", "check_resource", "has_structural", "require_valid_outgoing"]
