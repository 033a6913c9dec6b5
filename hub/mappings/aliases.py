"""The case's resources under the ids of the client resources they are (pure).

A case opened through ``/fhir`` is represented by the resources its client posted: the
part the hub would call ``CarePlan/<hub id>`` is ``CarePlan/<client id>``. ``with_aliases``
renames the resources ``case_to_fhir`` lists and every reference to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: (resource type, hub id) -> the client's id
Aliases = Mapping[tuple[str, str], str]


def _renamed_reference(value: str, by_ref: Mapping[str, str]) -> str:
    return by_ref.get(value, value)


def _rename(node: Any, by_ref: Mapping[str, str]) -> Any:
    if isinstance(node, list):
        return [_rename(v, by_ref) for v in node]
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                out[key] = _renamed_reference(value, by_ref)
            else:
                out[key] = _rename(value, by_ref)
        return out
    return node


def with_aliases(resources: list[dict[str, Any]], aliases: Aliases) -> list[dict[str, Any]]:
    """``resources`` with the aliased ones under their client ids, references rewritten."""
    if not aliases:
        return resources
    by_ref = {f"{rtype}/{hub_id}": f"{rtype}/{rid}" for (rtype, hub_id), rid in aliases.items()}
    out = []
    for resource in resources:
        renamed = _rename(resource, by_ref)
        rid = aliases.get((resource["resourceType"], resource.get("id", "")))
        if rid is not None:
            renamed["id"] = rid
        out.append(renamed)
    return out
