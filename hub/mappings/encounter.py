"""Encounter <-> one encounter of the case (``Case.encounters``): hospital stays, discharges,
home-health visits, reviews.

R4 specifics: ``class`` is a single Coding from v3 ActCode (``IMP``/``ACUTE`` inpatient,
``EMER``, ``HH`` home visit, ``AMB``, ``VR`` virtual); the period is ``period`` and the
discharge disposition is ``hospitalization.dischargeDisposition`` (R4 discharge-disposition
codes; home health is NUBC ``06``). A visit carried out for a referral has ``basedOn`` the
referral's ServiceRequest. The encounter's place in ``Case.encounters`` rides on it as the hub
extension ``case-rank`` (``in_case_order`` sorts by it when reading a case back), so the
order survives a Bundle in any order.

Inbound: ``apply_encounter`` takes a hospital's admission/discharge or an agency's visit
report. A discharge to home health is reported with the path
``HOME_HEALTH_DISCHARGE_PATH`` so the services layer can open the referral workflow
(``needs_home_health_referral(report)``).
"""

from __future__ import annotations

import uuid
from typing import Any

from hub import cases
from hub.mappings.codes import (
    DISCHARGE_CODES,
    DISCHARGE_INBOUND,
    ENCOUNTER_CLASS,
    ENCOUNTER_CLASS_APPROXIMATE,
    ENCOUNTER_CLASS_INBOUND,
    EXT_CASE_RANK,
    V3_ACT_CODE,
    reverse,
)
from hub.mappings.datatypes import (
    concept,
    fhir_datetime,
    find_ext,
    first_text,
    local_ref,
    narrative,
    parse_datetime,
    party_from_reference,
    party_to_reference,
    position,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import (
    find_hub_identifier,
    hub_identifier,
    part_id_from_identifier,
    reference,
    resource_id,
)
from hub.mappings.patient import patient_reference

KIND = "encounter"
REFERRAL_KIND = "referral"  # the referral ServiceRequest (see hub.mappings.referral)
EPISODE_KIND = "case"

#: Report path (and message prefix) of a discharge to home health.
HOME_HEALTH_DISCHARGE_PATH = "Encounter.hospitalization.dischargeDisposition"
HOME_HEALTH_DISCHARGE = "discharged to home health: open the home-health referral workflow"

_STATUS = {s.value for s in cases.EncounterStatus}
_DISCHARGE_FROM = {**reverse(DISCHARGE_CODES), **DISCHARGE_INBOUND}
_EXTERNAL_NS = uuid.UUID("0b6c8a8e-4c1e-5d8c-9a57-3f7f2f0e6a11")


def encounter_id(case_id: str, encounter_id_: str) -> str:
    return resource_id(case_id, KIND, encounter_id_)


def encounter_reference(case_id: str, encounter_id_: str) -> dict[str, Any]:
    return reference("Encounter", case_id, KIND, encounter_id_)


def referral_request_reference(case_id: str, referral_id: str) -> dict[str, Any]:
    """The referral's ServiceRequest (same ids as ``hub.mappings.referral``)."""
    return reference("ServiceRequest", case_id, REFERRAL_KIND, referral_id)


def episode_reference(case_id: str) -> dict[str, Any]:
    return {"reference": f"EpisodeOfCare/{resource_id(case_id, EPISODE_KIND)}"}


def external_part_id(data: dict[str, Any]) -> str | None:
    """A stable part id for a partner's resource that has no hub identifier."""
    for ident in data.get("identifier") or []:
        if ident.get("system") and ident.get("value"):
            return str(uuid.uuid5(_EXTERNAL_NS, f"{ident['system']}|{ident['value']}"))
    if data.get("id"):
        return str(data["id"])
    return None


def encounter_rank(case: cases.Case, enc: cases.Encounter) -> int | None:
    """1-based position of the encounter in ``Case.encounters`` (None if not listed)."""
    return position(case.encounters, enc)


def rank_of(data: dict[str, Any]) -> int | None:
    """The hub ``case-rank`` of an Encounter or referral ServiceRequest, if it has one."""
    found = find_ext(data, EXT_CASE_RANK)
    value = found.get("valuePositiveInt") if found else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def in_case_order(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resources sorted by their ``case-rank``; unranked ones (a partner's) after the ranked
    ones, in the order they come."""
    return [r for _, r in sorted(enumerate(resources), key=lambda p: (
        rank_of(p[1]) if rank_of(p[1]) is not None else 10**9, p[0]))]


def encounter_to_fhir(case: cases.Case, enc: cases.Encounter) -> dict[str, Any]:
    """One case encounter as an R4 Encounter."""
    system, code, display = ENCOUNTER_CLASS[enc.kind]
    out: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_id(case.id, enc.id),
        "text": narrative("Encounter", [("kind", enc.kind.value), ("status", enc.status.value),
                                        ("start", fhir_datetime(enc.start) or ""),
                                        ("end", fhir_datetime(enc.end) or ""),
                                        ("reason", enc.reason or "")]),
    }
    rank = encounter_rank(case, enc)
    if rank is not None:
        out["extension"] = [{"url": EXT_CASE_RANK, "valuePositiveInt": rank}]
    out.update({
        "identifier": [hub_identifier(case.id, KIND, enc.id)],
        "status": enc.status.value,
        "class": {"system": system, "code": code, "display": display},
        "subject": patient_reference(case),
        "episodeOfCare": [episode_reference(case.id)],
    })
    if enc.referral is not None:
        out["basedOn"] = [referral_request_reference(case.id, enc.referral)]
    if enc.start is not None or enc.end is not None:
        period = {}
        if enc.start is not None:
            period["start"] = fhir_datetime(enc.start)
        if enc.end is not None:
            period["end"] = fhir_datetime(enc.end)
        out["period"] = period
    if enc.reason is not None:
        out["reasonCode"] = [{"text": enc.reason}]
    if enc.discharge_disposition is not None:
        d_system, d_code, d_display = DISCHARGE_CODES[enc.discharge_disposition]
        out["hospitalization"] = {"dischargeDisposition": concept(d_system, d_code, d_display)}
    if enc.facility is not None:
        out["serviceProvider"] = party_to_reference(enc.facility)
    return out


def _kind(data: dict[str, Any], report: Report) -> cases.EncounterKind:
    cls = data.get("class")
    if not isinstance(cls, dict) or not cls.get("code"):
        raise MappingError("Encounter.class", "R4 Encounter.class is a single Coding (required)")
    code = cls["code"]
    if cls.get("system") == V3_ACT_CODE and code in ENCOUNTER_CLASS_INBOUND:
        return cases.EncounterKind(ENCOUNTER_CLASS_INBOUND[code])
    if cls.get("system") == V3_ACT_CODE and code in ENCOUNTER_CLASS_APPROXIMATE:
        kind = cases.EncounterKind(ENCOUNTER_CLASS_APPROXIMATE[code])
        report.unsupported("Encounter.class", f"class {code} kept on the case as {kind.value}",
                           "warning")
        return kind
    report.unknown_code("Encounter.class", cls.get("system"), code, cls.get("display"))
    return cases.EncounterKind.AMBULATORY


def _referral_id(data: dict[str, Any], case: cases.Case | None, case_id: str | None,
                 report: Report) -> str | None:
    for i, ref in enumerate(data.get("basedOn") or []):
        found = part_id_from_identifier(ref.get("identifier"), REFERRAL_KIND, case_id)
        if found is not None:
            if case_id is None and "/" in found:
                found = found.split("/", 1)[1]
            return found
        target = local_ref(ref.get("reference"))
        if case is not None and target:
            for r in case.referrals:
                if target in (f"ServiceRequest/{resource_id(case.id, REFERRAL_KIND, r.id)}",
                              f"ServiceRequest/{r.id}"):
                    return r.id
        report.unsupported(f"Encounter.basedOn[{i}]", "not a referral of this case")
    return None


def encounter_from_fhir(data: dict[str, Any], case_id: str | None = None, report: Report | None = None,
                        case: cases.Case | None = None) -> cases.Encounter:
    """An R4 Encounter as a case encounter. ``case`` (optional) resolves basedOn references
    that carry no hub identifier. Date-only period bounds become midnight UTC."""
    report = report if report is not None else Report()
    if case is not None and case_id is None:
        case_id = case.id
    if data.get("resourceType") != "Encounter":
        raise MappingError("resourceType", "expected an Encounter")
    if data.get("status") not in _STATUS:
        raise MappingError("Encounter.status", f"unknown R4 status {data.get('status')!r}")
    if "actualPeriod" in data or "admission" in data:
        raise MappingError("Encounter.actualPeriod" if "actualPeriod" in data
                           else "Encounter.admission", "an R5 element in an R4 Encounter")
    kind = _kind(data, report)
    period = data.get("period") or {}
    for key in ("start", "end"):
        if key in period and len(period[key]) == 10:
            report.unsupported(f"Encounter.period.{key}", "date-only bound taken as 00:00 UTC")
    reason = first_text(data.get("reasonCode"), "Encounter.reasonCode", report)
    disposition = None
    dd = (data.get("hospitalization") or {}).get("dischargeDisposition")
    if dd:
        for c in dd.get("coding") or []:
            found = _DISCHARGE_FROM.get((c.get("system"), c.get("code")))
            if found is not None:
                disposition = cases.DischargeDisposition(found)
                break
        else:
            for c in dd.get("coding") or []:
                report.unknown_code(HOME_HEALTH_DISCHARGE_PATH, c.get("system"), c.get("code"),
                                    c.get("display"))
            if not dd.get("coding"):
                report.unsupported(HOME_HEALTH_DISCHARGE_PATH, "disposition without a coding")
    facility = None
    if data.get("serviceProvider"):
        facility = party_from_reference(data["serviceProvider"], "Encounter.serviceProvider",
                                        report)
    part = find_hub_identifier(data, KIND, case_id)
    if part is not None and case_id is None and "/" in part:
        part = part.split("/", 1)[1]
    part = part or external_part_id(data)
    kwargs = {"id": part} if part else {}
    return cases.Encounter(
        kind=kind, status=cases.EncounterStatus(data["status"]),
        start=parse_datetime(period.get("start"), "Encounter.period.start"),
        end=parse_datetime(period.get("end"), "Encounter.period.end"),
        facility=facility, reason=reason, discharge_disposition=disposition,
        referral=_referral_id(data, case, case_id, report), **kwargs)


def needs_home_health_referral(report: Report) -> bool:
    """True when an applied Encounter was a discharge to home health."""
    return any(i.path == HOME_HEALTH_DISCHARGE_PATH and i.message == HOME_HEALTH_DISCHARGE
               for i in report.items)


#: Hospital stays: an admission and its discharge are one encounter.
_STAYS = frozenset({cases.EncounterKind.INPATIENT, cases.EncounterKind.EMERGENCY})
_ENDED = frozenset({cases.EncounterStatus.FINISHED, cases.EncounterStatus.CANCELLED,
                    cases.EncounterStatus.ENTERED_IN_ERROR})


def _external_part_ids(data: dict[str, Any]) -> set[str]:
    """The part ids any of a partner resource's identifiers (or its id) would give."""
    found = {str(uuid.uuid5(_EXTERNAL_NS, f"{i['system']}|{i['value']}"))
             for i in data.get("identifier") or [] if i.get("system") and i.get("value")}
    if data.get("id"):
        found.add(str(data["id"]))
    return found


def find_encounter(case: cases.Case, data: dict[str, Any]) -> cases.Encounter | None:
    """The case's encounter ``data`` is about: by hub identifier, by any of the partner's
    identifiers (a discharge sent as its own resource carries the visit number of the
    admission) or id; else, for a hospital stay, the open one of the same class begun at
    the same time at the same facility (the admission the discharge ends)."""
    part = find_hub_identifier(data, KIND, case.id)
    known = _external_part_ids(data) | ({part} if part else set())
    for e in case.encounters:
        if e.id in known or (data.get("id") and data["id"] == encounter_id(case.id, e.id)):
            return e
    return _same_stay(case, data)


def _same_stay(case: cases.Case, data: dict[str, Any]) -> cases.Encounter | None:
    start = (data.get("period") or {}).get("start")
    facility = (data.get("serviceProvider") or {}).get("reference")
    if not start or not facility:
        return None
    try:
        begun = parse_datetime(start, "Encounter.period.start")
        kind = _kind(data, Report())
    except MappingError:
        return None
    for e in case.encounters:
        if (e.kind == kind and e.kind in _STAYS and e.start == begun
                and e.status not in _ENDED and e.facility is not None
                and e.facility.reference is not None
                and local_ref(e.facility.reference) == local_ref(facility)):
            return e
    return None


def apply_encounter(case: cases.Case, data: dict[str, Any], report: Report | None = None) -> Report:
    """Apply a partner's Encounter (admission, discharge, home visit) onto the case.

    The encounter is matched by hub identifier, partner identifier or id, and replaced with
    the inbound state; a new one is added. A discharge to home health adds the report item
    ``HOME_HEALTH_DISCHARGE``. A home visit ``basedOn`` an accepted referral moves that
    referral to in-progress (as its owner, the agency).
    """
    report = report if report is not None else Report()
    incoming = encounter_from_fhir(data, case=case, report=report)
    existing = find_encounter(case, data)
    previous_disposition = None
    if existing is None:
        case.encounters.append(incoming)
        report.note("Encounter", f"{incoming.kind.value} encounter added ({incoming.status})")
    else:
        previous_disposition = existing.discharge_disposition
        if existing.status != incoming.status:
            report.note("Encounter.status", f"encounter {existing.status} -> {incoming.status}")
        incoming.id = existing.id
        if incoming.referral is None:
            incoming.referral = existing.referral
        case.encounters[case.encounters.index(existing)] = incoming
    if (incoming.discharge_disposition == cases.DischargeDisposition.HOME_HEALTH
            and previous_disposition != cases.DischargeDisposition.HOME_HEALTH):
        report.note(HOME_HEALTH_DISCHARGE_PATH, HOME_HEALTH_DISCHARGE)
    referral = next((r for r in case.referrals if r.id == incoming.referral), None)
    if incoming.referral is not None and referral is None:
        report.unsupported("Encounter.basedOn", f"unknown referral {incoming.referral}", "warning")
    if referral is not None and (incoming.kind == cases.EncounterKind.HOME_VISIT
            and incoming.status in (cases.EncounterStatus.IN_PROGRESS,
                                    cases.EncounterStatus.FINISHED)
            and referral.status == cases.ReferralStatus.ACCEPTED):
        referral.move(cases.ReferralStatus.IN_PROGRESS, cases.Actor.OWNER,
                      at=incoming.start)
        report.note("Encounter.basedOn", "referral moved to in-progress by a visit")
        case.follow_referrals()
    return report


__all__ = ["HOME_HEALTH_DISCHARGE", "HOME_HEALTH_DISCHARGE_PATH", "apply_encounter",
           "encounter_from_fhir", "encounter_id", "encounter_rank", "encounter_reference",
           "encounter_to_fhir", "episode_reference", "external_part_id", "find_encounter",
           "in_case_order", "needs_home_health_referral", "rank_of",
           "referral_request_reference"]
