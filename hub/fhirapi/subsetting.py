"""``_summary`` and ``_elements``: subsets of resources, tagged SUBSETTED (R4 search.html).

Which elements are summary or mandatory comes from the R4 definitions as the R4B models of
``fhir.resources`` carry them (``summary_element_property``, required fields). The subset
is taken at the top level of the resource; what is kept is kept whole. ``id``, ``meta``
and the mandatory elements are always kept; ``meta.tag`` gets SUBSETTED. Searches subset
their matches (``hub.fhirapi.search``), read and vread their resource (``subset_read``).
Pure: no Flask, no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from hub.errors import BadRequest, Issue
from hub.fhir import model_class

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED"}
_ALWAYS = ("resourceType", "id", "meta")


@dataclass(frozen=True)
class Elements:
    """The JSON names of one type's top-level elements, by role."""

    summary: frozenset[str]
    mandatory: frozenset[str]
    choices: dict  # choice base name (value) -> its JSON names (valueQuantity, ...)
    names: frozenset[str]


@cache
def elements_of(resource_type: str) -> Elements:
    summary, mandatory, names = set(), set(), set()
    choices: dict[str, set[str]] = {}
    for field in model_class(resource_type).model_fields.values():
        extra = field.json_schema_extra or {}
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        name = field.alias
        names.add(name)
        if extra.get("summary_element_property"):
            summary.add(name)
        if field.is_required() or extra.get("element_required"):
            mandatory.add(name)
        if extra.get("one_of_many"):
            choices.setdefault(extra["one_of_many"], set()).add(name)
            if extra.get("one_of_many_required"):
                mandatory.add(name)
    return Elements(frozenset(summary), frozenset(mandatory),
                    {k: frozenset(v) for k, v in choices.items()}, frozenset(names))


def _kept(content: dict, wanted: set[str]) -> dict:
    out = {}
    for key, value in content.items():
        base = key[1:] if key.startswith("_") and key != "_" else key
        if key in _ALWAYS or base in wanted:
            out[key] = value
    return out


def _tagged(resource: dict) -> dict:
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if not (
        t.get("system") == SUBSETTED["system"] and t.get("code") == SUBSETTED["code"])]
    meta["tag"] = [*tags, dict(SUBSETTED)]
    return {**resource, "meta": meta}


def subset(content: dict, summary: str | None = None,
           elements: tuple[str, ...] = ()) -> dict:
    """``content`` as ``_summary`` / ``_elements`` ask (unchanged for none or false)."""
    if summary in (None, "false", "count") and not elements:
        return content
    info = elements_of(content["resourceType"])
    if summary == "data":
        wanted = set(info.names) - {"text"}
    elif summary == "text":
        wanted = {"text", *info.mandatory}
    elif summary == "true":
        wanted = set(info.summary) | set(info.mandatory)
    else:
        wanted = set(info.mandatory)
        for name in elements:
            wanted |= info.choices.get(name, {name})
    return _tagged(_kept(content, wanted))


READ_SUMMARY_MODES = ("true", "text", "data", "false")


def subset_read(content: dict | None, items: list[tuple[str, str]]) -> dict | None:
    """A read or vread answer as its ``_summary`` / ``_elements`` ask (R4 http.html#read:
    the same parameters as a search, applied to the one resource). ``_summary=count`` is for
    searches only, an unknown mode or a repeated ``_summary`` is refused (400)."""
    modes = [v for k, v in items if k == "_summary"]
    names: list[str] = []
    for key, value in items:
        if key == "_elements":
            names += [n.strip() for n in value.split(",") if n.strip()]
    if len(set(modes)) > 1:
        raise BadRequest("_summary is given more than once", path="_summary")
    mode = modes[0] if modes else None
    if mode is not None and mode not in READ_SUMMARY_MODES:
        why = "is for searches only" if mode == "count" else "is not a _summary mode"
        raise BadRequest(f"_summary={mode} {why} (a read takes "
                         f"{', '.join(READ_SUMMARY_MODES)})", issues=[Issue(
                             f"_summary={mode} {why}", code="value", path="_summary")])
    # Patient.name is read as name; only top-level elements are subset
    elements = tuple(n.split(".", 1)[1] if "." in n and n[:1].isupper() else n for n in names)
    return subset(content, mode, elements) if content is not None else None


__all__ = ["READ_SUMMARY_MODES", "SUBSETTED", "Elements", "elements_of", "subset",
           "subset_read"]
