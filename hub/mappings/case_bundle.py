"""The whole case <-> its FHIR resources (the aggregators).

``case_to_fhir(case)`` lists every resource the case is represented by, with deterministic
ids (see ``identity``): Patient, EpisodeOfCare, Conditions, Goals, CarePlan, CareTeam and the
member resources, then funding (Coverage + payer Organization), encounters and referrals
from the funding/encounter/referral mappings. ``case_from_fhir(resources)`` reads them back:
``case_from_fhir(case_to_fhir(case)) == case``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast, overload

from hub import cases
from hub.mappings.careplan import careplan_from_fhir, careplan_id, careplan_to_fhir
from hub.mappings.careteam import careteam_from_fhir, careteam_to_fhir, members_to_fhir
from hub.mappings.condition import condition_from_fhir, condition_to_fhir
from hub.mappings.coverage import (
    coverage_from_fhir,
    coverage_order,
    coverage_to_fhir,
    payer_organization_to_fhir,
)
from hub.mappings.datatypes import local_ref
from hub.mappings.encounter import encounter_from_fhir, encounter_to_fhir, in_case_order
from hub.mappings.episode import episode_from_fhir, episode_to_fhir
from hub.mappings.errors import MappingError, Report
from hub.mappings.goal import goal_to_fhir
from hub.mappings.identity import find_hub_identifier, part_id_from_identifier
from hub.mappings.patient import patient_from_fhir, patient_to_fhir
from hub.mappings.referral import referral_from_fhir, referral_to_fhir

#: Kinds whose hub identifier names a case part (``<case id>/<part id>``).
_PART_KINDS = ("condition", "goal", "care-team-member", "coverage", "encounter", "referral")


# --- case -> FHIR -----------------------------------------------------------------------

def _funding_to_fhir(case: cases.Case) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for funding in case.funding:
        payer = payer_organization_to_fhir(case, funding)
        if payer is not None and all(r["id"] != payer["id"] for r in out):
            out.append(payer)
        out.append(coverage_to_fhir(case, funding))
    return out


def _other_parts_to_fhir(case: cases.Case) -> list[dict[str, Any]]:
    """Encounters and referrals (ServiceRequest + Task)."""
    out: list[dict[str, Any]] = [encounter_to_fhir(case, e) for e in case.encounters]
    for r in case.referrals:
        out += referral_to_fhir(case, r)
    return out


def case_to_fhir(case: cases.Case) -> list[dict[str, Any]]:
    """Every FHIR R4 resource (JSON dict) representing the case, in a stable order."""
    conditions = case.assessment.conditions if case.assessment else []
    resources = [patient_to_fhir(case), episode_to_fhir(case)]
    resources += [condition_to_fhir(case, c) for c in conditions]
    resources += [goal_to_fhir(case, g) for g in case.plan.goals]
    resources += [careplan_to_fhir(case), careteam_to_fhir(case)]
    resources += members_to_fhir(case)
    resources += _funding_to_fhir(case)
    resources += _other_parts_to_fhir(case)
    return resources


def case_to_bundle(case: cases.Case, base_url: str | None = None) -> dict[str, Any]:
    """A transaction Bundle of the case: PUT by deterministic id, so re-sending is idempotent."""
    entries = []
    for r in case_to_fhir(case):
        entry: dict[str, Any] = {}
        if base_url:
            entry["fullUrl"] = f"{base_url.rstrip('/')}/{r['resourceType']}/{r['id']}"
        entry["resource"] = r
        entry["request"] = {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


# --- FHIR -> case -----------------------------------------------------------------------

def _resources_of(data: dict[str, Any] | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        return [e["resource"] for e in data.get("entry") or [] if e.get("resource")]
    if isinstance(data, dict):
        return [data]
    return list(data)


def _find_episode(resources: list[dict[str, Any]]) -> dict[str, Any]:
    episodes = [r for r in resources if r.get("resourceType") == "EpisodeOfCare"]
    if not episodes:
        raise MappingError("EpisodeOfCare", "no EpisodeOfCare: the case is its EpisodeOfCare")
    ours = [e for e in episodes if find_hub_identifier(e, "case") is not None]
    if len(ours or episodes) > 1:
        raise MappingError("EpisodeOfCare", "more than one EpisodeOfCare for one case")
    return (ours or episodes)[0]


@overload
def _resolve(by_ref: dict[str, dict[str, Any]], ref: dict[str, Any] | None, path: str,
             required: Literal[True] = True) -> dict[str, Any]: ...
@overload
def _resolve(by_ref: dict[str, dict[str, Any]], ref: dict[str, Any] | None, path: str,
             required: bool) -> dict[str, Any] | None: ...
def _resolve(by_ref: dict[str, dict[str, Any]], ref: dict[str, Any] | None, path: str,
             required: bool = True) -> dict[str, Any] | None:
    target = local_ref((ref or {}).get("reference"))
    found = by_ref.get(target) if target else None
    if found is None and required:
        raise MappingError(path, f"referenced resource {target!r} is not among the resources")
    return found


def _funding_from_fhir(resources: list[dict[str, Any]], case_id: str,
                       report: Report) -> list[cases.FundingSource]:
    coverages = [r for r in resources if r.get("resourceType") == "Coverage"]
    ordered = sorted(enumerate(coverages), key=lambda p: (
        coverage_order(p[1]) if coverage_order(p[1]) is not None else 10**9, p[0]))
    return [coverage_from_fhir(c, case_id, report) for _, c in ordered]


def _other_parts_from_fhir(case: cases.Case, resources: list[dict[str, Any]], report: Report,
                           by_ref: dict[str, dict[str, Any]]) -> None:
    """Encounters and referrals, in case order (their ``case-rank``; unranked ones after, in
    the order their resources come)."""
    case.encounters = [encounter_from_fhir(r, case.id, report, case)
                       for r in in_case_order([r for r in resources
                                               if r.get("resourceType") == "Encounter"])]
    tasks = [r for r in resources if r.get("resourceType") == "Task"]
    referrals = []
    for sr in in_case_order([r for r in resources if r.get("resourceType") == "ServiceRequest"]):
        part = find_hub_identifier(sr, "referral", case.id)
        task = next((t for t in tasks
                     if local_ref((t.get("focus") or {}).get("reference"))
                     == f"ServiceRequest/{sr.get('id')}"
                     or (part is not None and find_hub_identifier(t, "task", case.id) == part)),
                    None)
        referrals.append(referral_from_fhir(sr, task, case.id, report))
    case.referrals = referrals


def case_from_fhir(data: dict[str, Any] | Iterable[dict[str, Any]],
                   report: Report | None = None) -> cases.Case:
    """Read a case back from its resources (a list or a Bundle). MappingError names the FHIR
    path that prevents it; what is kept but not understood goes into ``report``."""
    report = report if report is not None else Report()
    resources = _resources_of(data)
    by_ref = {f"{r['resourceType']}/{r['id']}": r for r in resources if r.get("id")}
    episode = _find_episode(resources)
    case_id = cast(str, find_hub_identifier(episode, "case") or episode.get("id"))
    index: dict[str, str] = {}
    for key, r in by_ref.items():
        for ident in r.get("identifier") or []:
            for kind in _PART_KINDS:
                part = part_id_from_identifier(ident, kind, case_id)
                if part is not None:
                    index[key] = part
    fields = episode_from_fhir(episode, report, index)
    if fields["model"] is None:
        raise MappingError("EpisodeOfCare.type", "no case-management model (cm-model) coding")
    if fields["setting"] is None:
        raise MappingError("EpisodeOfCare.extension", "no case setting extension")
    patient = patient_from_fhir(_resolve(by_ref, episode.get("patient"), "EpisodeOfCare.patient"),
                                report)
    assessment = fields.pop("assessment")
    condition_refs = fields.pop("condition_refs")
    conditions = [condition_from_fhir(_resolve(by_ref, ref, f"EpisodeOfCare.diagnosis[{i}]"),
                                      case_id, report)
                  for i, ref in enumerate(condition_refs)]
    if conditions and assessment is None:
        assessment = cases.Assessment()
    if assessment is not None:
        assessment.conditions = conditions
    care_team: list[cases.CareTeamMember] = []
    teams = episode.get("team") or []
    if teams:
        team = _resolve(by_ref, teams[0], "EpisodeOfCare.team[0]", required=False)
        if team is not None:
            care_team = careteam_from_fhir(team, case_id, report, by_ref)
            for p, m in zip(team.get("participant") or [], care_team):
                target = local_ref((p.get("member") or {}).get("reference"))
                if target:
                    index.setdefault(target, m.id)
    plan, notes = cases.Plan(), list[cases.Note]()
    careplan = by_ref.get(f"CarePlan/{careplan_id(case_id)}") or next(
        (r for r in resources if r.get("resourceType") == "CarePlan"
         and find_hub_identifier(r, "careplan") == case_id), None)
    if careplan is not None:
        plan, notes = careplan_from_fhir(careplan, case_id, report, index, by_ref)
    case = cases.Case(patient=patient, assessment=assessment, plan=plan, care_team=care_team,
                      notes=notes, **fields)
    case.funding = _funding_from_fhir(resources, case_id, report)
    _other_parts_from_fhir(case, resources, report, by_ref)
    return case
