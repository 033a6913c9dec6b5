"""Nothing lost: a new version produced from the case, merged onto the previous version.

The case models only part of each resource. When the hub re-produces a resource, elements
it does not model must survive from the previous version (a hospital's extension, their
identifiers, narrative, ``maritalStatus``...). Rules:

* elements the mapping owns (``OWNED``) come from the new version only: if the new version
  lacks one, the case removed it;
* any other element of the previous version is kept when the new version lacks it;
* ``extension`` / ``modifierExtension``: the new ones, plus previous ones whose URL is not a
  hub URL and not present in the new version;
* ``identifier``: the new ones, plus previous ones of other systems (or other values);
* ``text``: the previous narrative when the new version has none;
* ``meta``: previous profiles and tags kept (versionId/lastUpdated belong to the store);
* backbone lists the mapping owns (CarePlan.activity, CareTeam.participant, ...) are merged
  item by item, matched by element ``id``, with the same rules one level down;
* elements the mapping fills only with a default or a flattened form of what the case
  keeps (``KEPT_WHEN``: the CarePlan's title, the CareTeam's name, a Condition's notes)
  stay as the previous version has them when that says the same to the case: a client's
  title, team name and annotated notes survive the case's projection onto its resources;
  a CarePlan note the client wrote without an id is matched by its text (its
  ``authorReference`` kept).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hub.mappings.codes import HUB_CANONICAL, TEAM_NAME_PREFIX

#: Top-level elements each produced resource type owns (besides resourceType/id/meta/text/
#: extension/identifier, handled by their own rules).
OWNED: dict[str, set[str]] = {
    "Patient": {"name", "gender", "birthDate", "telecom", "address"},
    "EpisodeOfCare": {"status", "statusHistory", "type", "diagnosis", "patient", "period",
                      "careManager", "team", "managingOrganization"},
    "Condition": {"clinicalStatus", "category", "code", "subject", "onsetDateTime", "note"},
    "Goal": {"lifecycleStatus", "achievementStatus", "description", "subject", "target",
             "addresses"},
    "CarePlan": {"status", "intent", "category", "title", "subject", "period", "author",
                 "careTeam", "addresses", "goal", "activity", "note"},
    "CareTeam": {"status", "category", "name", "subject", "participant"},
    "Practitioner": {"name", "telecom", "address"},
    "PractitionerRole": {"practitioner", "organization", "code", "telecom"},
    "Organization": {"name", "telecom", "address"},
    "RelatedPerson": {"patient", "name", "telecom", "address"},
}

#: Owned backbone lists merged item by item (matched by element id) and what each item owns.
OWNED_ITEMS: dict[tuple[str, str], set[str]] = {
    ("CarePlan", "activity"): {"detail", "reference", "progress"},
    ("CareTeam", "participant"): {"role", "member", "onBehalfOf", "period"},
    ("CarePlan", "note"): {"authorString", "time", "text"},
}

#: Owned lists of which the mapping models only some items: previous items matching the
#: predicate (the ones the case cannot represent) are kept after the new ones.
def _not_condition(ref: dict[str, Any]) -> bool:
    return str(ref.get("reference", "")).split("/")[-2:-1] != ["Condition"]


PARTIAL_LISTS: dict[tuple[str, str], Callable[[dict[str, Any]], bool]] = {
    ("Goal", "target"): lambda item: "dueDate" not in item,
    ("Goal", "addresses"): _not_condition,
    ("CarePlan", "addresses"): _not_condition,
    ("CarePlan", "category"): lambda cc: not any(
        c.get("code") == "assess-plan" or _is_hub_url(c.get("system"))
        for c in cc.get("coding", [])),
    ("EpisodeOfCare", "type"): lambda cc: not any(
        _is_hub_url(c.get("system")) for c in cc.get("coding", [])),
}

def _annotation_texts(notes: Any) -> list[str]:
    return [str(n.get("text")) for n in notes or [] if isinstance(n, dict) and n.get("text")]


def _not_the_hubs_team_name(new: Any, previous: Any) -> bool:
    return not str(previous).startswith(TEAM_NAME_PREFIX)


#: Owned elements where the previous value is kept when ``predicate(new, previous)``:
#: the mapping produces a default the case does not model (a title, a name) or a
#: flattened form of what it models (a Condition's notes as one text).
KEPT_WHEN: dict[tuple[str, str], Callable[[Any, Any], bool]] = {
    ("CarePlan", "title"): lambda new, previous: True,
    ("CareTeam", "name"): _not_the_hubs_team_name,
    ("Condition", "note"): lambda new, previous: "\n\n".join(
        _annotation_texts(previous)) == "\n\n".join(_annotation_texts(new)),
}

_ALWAYS = {"resourceType", "id", "meta", "text", "extension", "modifierExtension",
           "identifier"}


def _is_hub_url(url: str | None) -> bool:
    return url is not None and url.startswith(HUB_CANONICAL)


def _merge_extensions(new: list[dict[str, Any]] | None,
                      previous: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = list(new or [])
    new_urls = {e.get("url") for e in out}
    for e in previous or []:
        if not _is_hub_url(e.get("url")) and e.get("url") not in new_urls:
            out.append(copy.deepcopy(e))
    return out


def _merge_identifiers(new: list[dict[str, Any]] | None,
                       previous: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = list(new or [])
    seen = {(i.get("system"), i.get("value")) for i in out}
    new_systems = {i.get("system") for i in out}
    for i in previous or []:
        key = (i.get("system"), i.get("value"))
        if key in seen or (i.get("system") in new_systems and _is_hub_url(i.get("system"))):
            continue
        out.append(copy.deepcopy(i))
    return out


def _merge_meta(new: dict[str, Any] | None, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    if not previous:
        return new
    out = dict(new or {})
    for key in ("profile", "security", "tag"):
        merged = list(out.get(key) or [])
        for item in previous.get(key) or []:
            if item not in merged:
                merged.append(copy.deepcopy(item))
        if merged:
            out[key] = merged
    if "source" in previous and "source" not in out:
        out["source"] = previous["source"]
    return out or None


def _merge_element(new: dict[str, Any], previous: dict[str, Any], owned: set[str] | None) -> dict[str, Any]:
    """Merge one element (a resource or a backbone item) with the rules above."""
    out = dict(new)
    for key, value in previous.items():
        if key in ("extension", "modifierExtension"):
            merged = _merge_extensions(new.get(key), value)
            if merged:
                out[key] = merged
        elif key == "identifier" and isinstance(value, list):
            out[key] = _merge_identifiers(new.get(key), value)
        elif key == "text":
            if "text" not in new:
                out["text"] = copy.deepcopy(value)
        elif key == "meta":
            meta = _merge_meta(new.get("meta"), value)
            if meta:
                out["meta"] = meta
        elif key in ("resourceType", "id"):
            continue
        elif key not in new and (owned is None or key not in owned):
            out[key] = copy.deepcopy(value)
    return out


#: Owned backbone lists a client may write without element ids (the hub gives them one):
#: an item the previous version has without an id is matched by this element.
MATCHED_BY: dict[tuple[str, str], str] = {("CarePlan", "note"): "text"}


def _author_choice(item: dict[str, Any]) -> dict[str, Any]:
    """An Annotation has one author[x]: the client's ``authorReference`` kept from the
    previous version wins over the ``authorString`` the hub made of its display."""
    if "authorReference" in item and "authorString" in item:
        item.pop("authorString")
    return item


def _merge_items(new: list[dict[str, Any]], previous: list[dict[str, Any]],
                 owned: set[str], match_by: str | None = None) -> list[dict[str, Any]]:
    prev_by_id = {p["id"]: p for p in previous if isinstance(p, dict) and p.get("id")}
    prev_by_value = {p.get(match_by): p for p in previous if isinstance(p, dict)
                     and match_by and not p.get("id") and p.get(match_by) is not None}
    out = []
    for item in new:
        if not isinstance(item, dict):
            out.append(item)
            continue
        before = prev_by_id.get(item.get("id")) or prev_by_value.get(
            item.get(match_by) if match_by else None)
        merged = _merge_element(item, before, owned) if before is not None else item
        out.append(_author_choice(merged) if match_by else merged)
    return out


def merge_onto_previous(new: dict[str, Any], previous: dict[str, Any] | None,
                        owned: set[str] | None = None) -> dict[str, Any]:
    """The new version of a resource with everything the case does not model kept from
    ``previous`` (the stored version of the same resource). ``owned`` overrides the table
    (for resource types of other mappings: None there means only elements absent from the
    new version are kept). Without a previous version it is ``new`` itself, not a copy: the
    projection builds ``new`` for this one version and changes nothing of it afterwards (a
    deep copy of each resource was 6% of a case create, bench/README.md)."""
    if not previous:
        return new
    if previous.get("resourceType") != new.get("resourceType"):
        raise ValueError("merge_onto_previous: resource types differ")
    rtype = new["resourceType"]
    owned = owned if owned is not None else OWNED.get(rtype)
    out = _merge_element(copy.deepcopy(new), previous, owned)
    for (t, element), item_owned in OWNED_ITEMS.items():
        if t == rtype and isinstance(new.get(element), list) and isinstance(
                previous.get(element), list):
            out[element] = _merge_items(out[element], previous[element], item_owned,
                                        MATCHED_BY.get((t, element)))
    for (t, element), unmodelled in PARTIAL_LISTS.items():
        if t == rtype and isinstance(previous.get(element), list):
            kept = [copy.deepcopy(i) for i in previous[element]
                    if unmodelled(i) and i not in (out.get(element) or [])]
            if kept:
                out[element] = list(out.get(element) or []) + kept
    for (t, element), keep in KEPT_WHEN.items():
        if t == rtype and element in previous and keep(out.get(element), previous[element]):
            out[element] = copy.deepcopy(previous[element])
    # contained resources referenced by kept elements stay with them
    if "contained" in previous and "contained" not in new:
        out["contained"] = copy.deepcopy(previous["contained"])
    return out
