"""The search parameters the hub supports, per resource type, and index extraction.

Each parameter is a name, a type (token, reference, date, string, number) and the
FHIRPath-ish element paths it reads (dotted, lists flattened; e.g. ``target.dueDate``),
optionally restricted to reference target types (``patient`` = ``subject`` where the
target is a Patient). ``index_rows(resource)`` turns a resource into the rows of
``search_index``. Pure: no Flask, no SQL.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.fhirstore.dates import date_range, period_range


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # token | reference | date | string | number
    paths: tuple[str, ...]
    targets: tuple[str, ...] = ()  # reference target types allowed (empty: any)


def _p(name: str, type_: str, *paths: str, targets: tuple[str, ...] = ()) -> SearchParam:
    return SearchParam(name, type_, paths, targets)


_PAT = ("Patient",)


def _patient(path: str = "subject") -> list[SearchParam]:
    return [_p("patient", "reference", path, targets=_PAT), _p("subject", "reference", path)]


#: Parameters per resource type, besides ``_id``, ``_lastUpdated`` and ``identifier``.
_DEFS: dict[str, list[SearchParam]] = {
    "Task": [
        _p("owner", "reference", "owner"), _p("requester", "reference", "requester"),
        _p("status", "token", "status"), _p("business-status", "token", "businessStatus"),
        _p("focus", "reference", "focus"), *_patient("for"),
        _p("code", "token", "code"), _p("intent", "token", "intent"),
        _p("modified", "date", "lastModified"), _p("authored-on", "date", "authoredOn"),
        _p("part-of", "reference", "partOf"), _p("based-on", "reference", "basedOn"),
    ],
    "CarePlan": [
        *_patient(), _p("status", "token", "status"), _p("intent", "token", "intent"),
        _p("category", "token", "category"), _p("care-team", "reference", "careTeam"),
        _p("encounter", "reference", "encounter"), _p("date", "date", "period"),
        _p("goal", "reference", "goal"),
    ],
    "ServiceRequest": [
        *_patient(), _p("status", "token", "status"), _p("intent", "token", "intent"),
        _p("requester", "reference", "requester"), _p("performer", "reference", "performer"),
        _p("code", "token", "code"), _p("authored", "date", "authoredOn"),
    ],
    "Encounter": [
        *_patient(), _p("status", "token", "status"), _p("class", "token", "class"),
        _p("date", "date", "period"), _p("type", "token", "type"),
        _p("service-provider", "reference", "serviceProvider"),
        _p("episode-of-care", "reference", "episodeOfCare"),
        _p("based-on", "reference", "basedOn"),
    ],
    "Coverage": [
        _p("beneficiary", "reference", "beneficiary"),
        _p("patient", "reference", "beneficiary", targets=_PAT),
        _p("payor", "reference", "payor"), _p("status", "token", "status"),
        _p("subscriber", "reference", "subscriber"), _p("type", "token", "type"),
    ],
    "Goal": [
        *_patient(), _p("lifecycle-status", "token", "lifecycleStatus"),
        _p("achievement-status", "token", "achievementStatus"),
        _p("target-date", "date", "target.dueDate"),
    ],
    "CareTeam": [
        *_patient(), _p("status", "token", "status"),
        _p("participant", "reference", "participant.member"),
        _p("category", "token", "category"),
    ],
    "EpisodeOfCare": [
        _p("patient", "reference", "patient"), _p("status", "token", "status"),
        _p("type", "token", "type"), _p("care-manager", "reference", "careManager"),
        _p("date", "date", "period"),
        _p("organization", "reference", "managingOrganization"),
    ],
    "Patient": [
        _p("name", "string", "name"), _p("family", "string", "name.family"),
        _p("given", "string", "name.given"), _p("birthdate", "date", "birthDate"),
        _p("gender", "token", "gender"),
        _p("organization", "reference", "managingOrganization"),
    ],
    "Condition": [
        *_patient(), _p("clinical-status", "token", "clinicalStatus"),
        _p("category", "token", "category"), _p("code", "token", "code"),
    ],
    "CoverageEligibilityRequest": [
        _p("patient", "reference", "patient"), _p("status", "token", "status"),
        _p("created", "date", "created"),
        _p("insurer", "reference", "insurer"),  # [hub]: not an R4 parameter of this type
        _p("provider", "reference", "provider"),
    ],
    "CoverageEligibilityResponse": [
        _p("patient", "reference", "patient"), _p("status", "token", "status"),
        _p("created", "date", "created"), _p("request", "reference", "request"),
        _p("insurer", "reference", "insurer"), _p("outcome", "token", "outcome"),
    ],
    "Claim": [
        _p("patient", "reference", "patient"), _p("status", "token", "status"),
        _p("use", "token", "use"), _p("created", "date", "created"),
        _p("insurer", "reference", "insurer"), _p("provider", "reference", "provider"),
    ],
    "ClaimResponse": [
        _p("patient", "reference", "patient"), _p("status", "token", "status"),
        _p("use", "token", "use"), _p("created", "date", "created"),
        _p("request", "reference", "request"), _p("insurer", "reference", "insurer"),
        _p("outcome", "token", "outcome"),
    ],
    "Provenance": [
        _p("target", "reference", "target"), _p("agent", "reference", "agent.who"),
        _p("patient", "reference", "target", targets=_PAT),
    ],
    "Procedure": [*_patient(), _p("status", "token", "status"),
                  _p("based-on", "reference", "basedOn"),
                  _p("encounter", "reference", "encounter")],
    "Observation": [*_patient(), _p("status", "token", "status"), _p("code", "token", "code"),
                    _p("based-on", "reference", "basedOn"),
                    _p("encounter", "reference", "encounter"),
                    _p("date", "date", "effectiveDateTime", "effectivePeriod",
                       "effectiveInstant")],
    "DocumentReference": [*_patient(), _p("status", "token", "status"),
                          _p("type", "token", "type")],
    # R4 Organization-name: "Organization.name | Organization.alias"
    "Organization": [_p("name", "string", "name", "alias")],
    "Practitioner": [_p("name", "string", "name")],
    "PractitionerRole": [_p("practitioner", "reference", "practitioner"),
                         _p("organization", "reference", "organization")],
    "RelatedPerson": [_p("patient", "reference", "patient")],
    # hub.subscriptions: R4 Subscription-status, -type (channel.type), -criteria
    "Subscription": [_p("status", "token", "status"), _p("type", "token", "channel.type"),
                     _p("criteria", "string", "criteria")],
}

#: Parameters of every type that go through the search index.
COMMON_INDEXED = (_p("identifier", "token", "identifier"),)
#: Parameters of every type answered from the ``resources`` table itself.
SPECIAL = {"_id": "token", "_lastUpdated": "date"}

SEARCH_PARAMS: dict[str, dict[str, SearchParam]] = {
    rtype: {sp.name: sp for sp in (*COMMON_INDEXED, *defs)} for rtype, defs in _DEFS.items()
}

#: The resource types the API serves.
SUPPORTED_TYPES: tuple[str, ...] = tuple(sorted(SEARCH_PARAMS))


def params_for(resource_type: str) -> dict[str, SearchParam]:
    return SEARCH_PARAMS.get(resource_type, {})


# --- extraction ---------------------------------------------------------------------------


def normalize_string(text: str) -> str:
    """Lower case, accents removed, whitespace collapsed (string search matching)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.lower().split())


def _walk(node: Any, parts: list[str]) -> Iterator[Any]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, parts)
        return
    if not parts:
        yield node
        return
    if isinstance(node, dict) and parts[0] in node:
        yield from _walk(node[parts[0]], parts[1:])


def values_at(resource: dict[str, Any], path: str) -> list[Any]:
    """Every value at a dotted element path, lists flattened."""
    return list(_walk(resource, path.split(".")))


def split_reference(ref: str) -> tuple[str | None, str] | None:
    """(type, id) of a literal reference: relative, absolute or versioned; None if local."""
    if not ref or ref.startswith(("#", "urn:")):
        return None
    ref = ref.split("?")[0]
    parts = ref.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return parts[-2], parts[-1]
    if len(parts) == 1:
        return None, parts[0]
    return None


def reference_target(ref: str, local_base: str | None = None
                     ) -> tuple[str | None, str] | None:
    """(type, key) of a literal reference as the search index keeps it.

    Relative references, and absolute ones under the hub's own FHIR base ``local_base``,
    are local: (type, id). An absolute reference to another server stays absolute: (type,
    its URL without ``_history``), so it never matches (or includes) a local resource of
    the same id (the CapabilityStatement's referencePolicy is ``local``). None for
    contained (``#x``) and ``urn:`` references.
    """
    if not ref or "://" not in ref:
        return split_reference(ref)
    url = ref.split("?")[0].rstrip("/")
    base = (local_base or "").rstrip("/")
    if base and url.startswith(base + "/"):
        return split_reference(url[len(base) + 1:])
    target = split_reference(url)
    if target is None or target[0] is None:
        return None
    parts = url.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return target[0], "/".join(parts)[:255]


def _tokens(value: Any) -> list[tuple[str | None, str]]:
    if isinstance(value, bool):
        return [(None, "true" if value else "false")]
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [(c.get("system"), c["code"]) for c in value["coding"] if c.get("code")]
    if "code" in value:
        return [(value.get("system"), value["code"])]
    if "value" in value and isinstance(value["value"], str):
        return [(value.get("system"), value["value"])]
    return []


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        out: list[str] = []
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city",
                    "district", "state", "postalCode", "country"):
            item = value.get(key)
            out.extend(item if isinstance(item, list) else [item] if item else [])
        return out
    return []


def _dates(value: Any) -> list[tuple[datetime, datetime]]:
    if isinstance(value, str):
        return [date_range(value)]
    if isinstance(value, dict) and ("start" in value or "end" in value):
        return [period_range(value)]
    return []


def index_rows(resource: dict[str, Any], local_base: str | None = None) -> list[dict[str, Any]]:
    """The ``search_index`` rows of a resource (without res_type/res_id); absolute
    references under ``local_base`` (the hub's FHIR base) are indexed as local ones."""
    rows: list[dict[str, Any]] = []
    for sp in params_for(resource["resourceType"]).values():
        for path in sp.paths:
            for value in values_at(resource, path):
                rows.extend(_rows_for(sp, value, local_base))
    unique = {tuple(sorted(r.items())): r for r in rows}
    return list(unique.values())


def _rows_for(sp: SearchParam, value: Any, local_base: str | None = None) -> list[dict[str, Any]]:
    name = sp.name
    try:
        if sp.type == "token":
            return [{"param": name, "token_system": s, "token_code": c[:255]}
                    for s, c in _tokens(value)]
        if sp.type == "reference":
            if not isinstance(value, dict):
                return []
            target = reference_target(value.get("reference", ""), local_base)
            if target is None:
                return []
            rtype, rid = target
            rtype = rtype or value.get("type")
            if sp.targets and rtype not in sp.targets:
                return []
            return [{"param": name, "ref_type": rtype, "ref_id": rid}]
        if sp.type == "string":
            return [{"param": name, "string_value": normalize_string(s)[:255],
                     "string_exact": s[:255]} for s in _strings(value)]
        if sp.type == "date":
            return [{"param": name, "date_low": lo, "date_high": hi}
                    for lo, hi in _dates(value)]
        if sp.type == "number" and isinstance(value, (int, float)):
            return [{"param": name, "number": float(value)}]
    except ValueError:
        return []  # an unparseable value is not searchable; validation caught real errors
    return []
