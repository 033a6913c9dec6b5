"""The resources that belong to an EpisodeOfCare a FHIR client posted (pure).

They join its case: the Patient (``EpisodeOfCare.patient``), the Conditions of its
``diagnosis``, its ``team`` (CareTeam) and the team members' resources, the CarePlan and
the ServiceRequests that name it in the ``workflow-episodeOfCare`` extension, the Goals
of that CarePlan, the Tasks that carry out those ServiceRequests, the Encounters whose
``episodeOfCare`` names it, and the patient's Coverages the case names (referenced by
one of these, or written with them for the same beneficiary).

Each joined resource is a part of the case: ``Part`` says which (the hub kind and part
id of ``hub.mappings.identity``; the part id is the client's resource id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hub.errors import BusinessRuleFailed
from hub.mappings.careplan import EPISODE_EXT
from hub.mappings.codes import CM_MODEL_SYSTEM, EXT_CASE_SETTING
from hub.mappings.datatypes import local_ref

#: ``lookup("Type/id")``: the live resource (written in this request or stored), or None.
Lookup = Callable[[str], dict[str, Any] | None]

#: The hub kind of each case-owned type (``hub.mappings.identity``).
OWNED_KINDS = {"EpisodeOfCare": "case", "CarePlan": "careplan", "CareTeam": "careteam",
               "Goal": "goal", "Condition": "condition", "Encounter": "encounter",
               "ServiceRequest": "referral", "Task": "task", "Coverage": "coverage"}
#: Kinds of one resource per case (their hub identifier value is the case id).
CASE_LEVEL = frozenset({"case", "careplan", "careteam"})
MEMBER_KIND = "care-team-member"
MEMBER_TYPES = frozenset({"Practitioner", "PractitionerRole", "RelatedPerson",
                          "Organization"})


@dataclass(frozen=True)
class Part:
    """``resource`` (the client's content) is the case's part ``kind``/``part_id``."""

    resource: dict[str, Any]
    kind: str
    part_id: str | None

    @property
    def key(self) -> str:
        return f"{self.resource['resourceType']}/{self.resource['id']}"

    @property
    def owned(self) -> bool:
        return self.kind != MEMBER_KIND


def _ref(element: Any) -> str | None:
    return local_ref((element or {}).get("reference")) if isinstance(element, dict) else None


def names_episode(resource: dict[str, Any], episode_ref: str) -> bool:
    """Whether ``resource`` links to the episode (workflow-episodeOfCare extension or
    ``Encounter.episodeOfCare``)."""
    for ext in resource.get("extension") or []:
        if ext.get("url") == EPISODE_EXT and _ref(ext.get("valueReference")) == episode_ref:
            return True
    return any(_ref(e) == episode_ref for e in resource.get("episodeOfCare") or [])


def is_case_episode(episode: dict[str, Any], written: Iterable[dict[str, Any]]) -> bool:
    """Whether an EpisodeOfCare is one of case management: its type names a
    case-management model (cm-model), it carries the case setting, or a CarePlan written
    with it names it (workflow-episodeOfCare). Other episodes stay plain FHIR resources."""
    if any(c.get("system") == CM_MODEL_SYSTEM for t in episode.get("type") or []
           for c in t.get("coding") or []):
        return True
    if any(e.get("url") == EXT_CASE_SETTING for e in episode.get("extension") or []):
        return True
    ref = f"EpisodeOfCare/{episode['id']}"
    return any(r.get("resourceType") == "CarePlan" and names_episode(r, ref) for r in written)


def _refuse(message: str, path: str) -> BusinessRuleFailed:
    return BusinessRuleFailed(message, path=path)


def _one(resources: list[dict[str, Any]], what: str, path: str) -> dict[str, Any] | None:
    if len(resources) > 1:
        raise _refuse(f"a case has one {what}: {len(resources)} name this EpisodeOfCare",
                      path)
    return resources[0] if resources else None


def joined_parts(episode: dict[str, Any], written: Iterable[dict[str, Any]],
                 lookup: Lookup) -> tuple[dict[str, Any], list[Part]]:
    """(the Patient, the parts of the case) of ``episode``; ``written``: the live resources
    the request wrote (the extension-linked ones are looked for among them)."""
    episode_ref = f"EpisodeOfCare/{episode['id']}"
    pool = [r for r in written if r.get("resourceType") != "EpisodeOfCare"]
    patient_ref = _ref(episode.get("patient"))
    patient = lookup(patient_ref) if patient_ref else None
    if patient is None or patient.get("resourceType") != "Patient":
        raise _refuse("the EpisodeOfCare of a case names its Patient", "EpisodeOfCare.patient")
    parts = [Part(episode, "case", None)]
    seen = {f"EpisodeOfCare/{episode['id']}"}

    def add(resource: dict[str, Any] | None, kind: str, part_id: str | None) -> None:
        if resource is None:
            return
        key = f"{resource['resourceType']}/{resource['id']}"
        if key not in seen:
            seen.add(key)
            parts.append(Part(resource, kind, part_id))

    for d in episode.get("diagnosis") or []:
        condition = lookup(_ref(d.get("condition")) or "")
        add(condition, "condition", (condition or {}).get("id"))
    teams = episode.get("team") or []
    team = lookup(_ref(teams[0]) or "") if teams else None
    if team is not None and team.get("resourceType") == "CareTeam":
        add(team, "careteam", None)
        for p in team.get("participant") or []:
            target = _ref(p.get("member")) or ""
            if target.split("/")[0] in MEMBER_TYPES:
                member = lookup(target)
                add(member, MEMBER_KIND, (member or {}).get("id"))
    plan = _one([r for r in pool if r["resourceType"] == "CarePlan"
                 and names_episode(r, episode_ref)], "CarePlan", "CarePlan.extension")
    add(plan, "careplan", None)
    for g in (plan or {}).get("goal") or []:
        goal = lookup(_ref(g) or "")
        if goal is not None and goal.get("resourceType") == "Goal":
            add(goal, "goal", goal["id"])
    requests = [r for r in pool if r["resourceType"] == "ServiceRequest"
                and names_episode(r, episode_ref)]
    request_refs = {f"ServiceRequest/{r['id']}": r["id"] for r in requests}
    for sr in requests:
        add(sr, "referral", sr["id"])
    for task in (r for r in pool if r["resourceType"] == "Task"):
        focus = _ref(task.get("focus")) or next(
            (_ref(b) for b in task.get("basedOn") or [] if _ref(b) in request_refs), None)
        if focus in request_refs:
            add(task, "task", request_refs[focus])
    for encounter in (r for r in pool if r["resourceType"] == "Encounter"
                      and names_episode(r, episode_ref)):
        add(encounter, "encounter", encounter["id"])
    _add_coverages(parts, pool, patient, lookup, add)
    return patient, parts


def _add_coverages(parts: list[Part], pool: list[dict[str, Any]], patient: dict[str, Any],
                   lookup: Lookup, add) -> None:
    """The Coverages the joined resources reference, and those written with them for the
    case's Patient."""
    named: list[str] = []
    for part in list(parts):
        for element in ("insurance", "coverage"):
            for value in part.resource.get(element) or []:
                ref = _ref(value) or _ref((value or {}).get("coverage"))
                if ref and ref.startswith("Coverage/"):
                    named.append(ref)
    patient_ref = f"Patient/{patient['id']}"
    named += [f"Coverage/{r['id']}" for r in pool if r["resourceType"] == "Coverage"
              and _ref(r.get("beneficiary")) == patient_ref]
    for ref in named:
        coverage = lookup(ref)
        if coverage is not None and _ref(coverage.get("beneficiary")) == patient_ref:
            add(coverage, "coverage", coverage["id"])
