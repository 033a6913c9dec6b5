"""CareTeam (+ Practitioner/PractitionerRole/Organization/RelatedPerson) <-> ``Case.care_team``.

Each member is a participant: ``id`` = member id, ``role`` (SNOMED in the hub's tables),
``member`` -> the member resource (the case's Patient for a patient member) with the
member's own identifier and name, ``onBehalfOf`` (Practitioner members only, ctm-1; a
PractitionerRole carries it as ``organization``), ``period``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from hub import cases
from hub.mappings.codes import (
    CARETEAM_CATEGORY_LONGITUDINAL,
    MEMBER_KIND,
    MEMBER_KIND_FROM,
    TEAM_NAME_PREFIX,
)
from hub.mappings.datatypes import (
    code_from_concept,
    code_to_concept,
    concept,
    contact_from_fhir,
    contact_to_fhir,
    identifier_from_fhir,
    identifier_to_fhir,
    local_ref,
    narrative,
    party_from_reference,
    party_to_reference,
    period_from_fhir,
    period_to_fhir,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import (
    find_hub_identifier,
    hub_identifier,
    is_hub_system,
    resource_id,
)
from hub.mappings.patient import case_patient_id, display_name, patient_reference

KIND = "careteam"
MEMBER = "care-team-member"


def careteam_id(case_id: str) -> str:
    return resource_id(case_id, KIND)


def careteam_reference(case: cases.Case) -> dict[str, Any]:
    return {"reference": f"CareTeam/{careteam_id(case.id)}"}


def member_reference(case: cases.Case, member: cases.CareTeamMember) -> dict[str, Any]:
    """Reference to the member's resource (the case Patient for a patient member)."""
    rtype = MEMBER_KIND[member.kind]
    rid = (case_patient_id(case) if member.kind == cases.MemberKind.PATIENT
           else resource_id(case.id, MEMBER, member.id))
    ref: dict[str, Any] = {"reference": f"{rtype}/{rid}"}
    if member.identifier is not None:
        ref["identifier"] = identifier_to_fhir(member.identifier)
    ref["display"] = member.name
    return ref


def member_reference_by_id(case: cases.Case, member_id: str) -> dict[str, Any]:
    """Reference to a member by id (activity performer): the member resource and the hub
    member identifier, which also names a member not (or no longer) on the team."""
    ref: dict[str, Any] = {}
    for m in case.care_team:
        if m.id == member_id:
            ref["reference"] = member_reference(case, m)["reference"]
            break
    ref["identifier"] = hub_identifier(case.id, MEMBER, member_id)
    return ref


def careteam_to_fhir(case: cases.Case) -> dict[str, Any]:
    participants = []
    for m in case.care_team:
        p: dict[str, Any] = {"id": m.id, "role": [code_to_concept(m.role)],
                   "member": member_reference(case, m)}
        if m.on_behalf_of is not None and m.kind == cases.MemberKind.PRACTITIONER:
            p["onBehalfOf"] = party_to_reference(m.on_behalf_of)
        period = period_to_fhir(m.period)
        if period:
            p["period"] = period
        participants.append(p)
    out: dict[str, Any] = {
        "resourceType": "CareTeam",
        "id": careteam_id(case.id),
        "text": narrative(f"Care team of {display_name(case.patient)}",
                          [(m.role.display or m.role.code, m.name) for m in case.care_team]),
        "identifier": [hub_identifier(case.id, KIND)],
        "status": "active" if case.is_open else "inactive",
        "category": [concept(*CARETEAM_CATEGORY_LONGITUDINAL)],
        "name": f"{TEAM_NAME_PREFIX}{display_name(case.patient)}",
        "subject": patient_reference(case),
    }
    if participants:
        out["participant"] = participants
    return out


def member_to_fhir(case: cases.Case, m: cases.CareTeamMember) -> dict[str, Any] | None:
    """The member's own resource; None for a patient member (the case Patient)."""
    if m.kind == cases.MemberKind.PATIENT:
        return None
    rtype = MEMBER_KIND[m.kind]
    out: dict[str, Any] = {"resourceType": rtype, "id": resource_id(case.id, MEMBER, m.id),
                 "text": narrative(rtype, [("name", m.name),
                                           ("role", m.role.display or m.role.code)]),
                 "identifier": [hub_identifier(case.id, MEMBER, m.id)]}
    if m.identifier is not None:
        out["identifier"].append(identifier_to_fhir(m.identifier))
    contact = contact_to_fhir(m.contact)
    if m.kind == cases.MemberKind.PRACTITIONER:
        out["name"] = [{"text": m.name}]
        out.update(contact)
    elif m.kind == cases.MemberKind.PRACTITIONER_ROLE:
        out["practitioner"] = {"display": m.name}
        if m.on_behalf_of is not None:
            out["organization"] = party_to_reference(m.on_behalf_of)
        out["code"] = [code_to_concept(m.role)]
        if "telecom" in contact:
            out["telecom"] = contact["telecom"]
    elif m.kind == cases.MemberKind.ORGANIZATION:
        out["name"] = m.name
        out.update(contact)
    elif m.kind == cases.MemberKind.RELATED_PERSON:
        out["patient"] = patient_reference(case)
        out["name"] = [{"text": m.name}]
        out.update(contact)
    return out


def members_to_fhir(case: cases.Case) -> list[dict[str, Any]]:
    return [r for r in (member_to_fhir(case, m) for m in case.care_team) if r is not None]


def _member_from_participant(p: dict[str, Any], path: str, case_id: str | None, report: Report,
                             resources: dict[str, dict[str, Any]]) -> cases.CareTeamMember:
    roles = p.get("role") or []
    if not roles:
        raise MappingError(f"{path}.role", "a care-team member needs a role")
    role = code_from_concept(roles[0], f"{path}.role[0]")
    if len(roles) > 1:
        report.unsupported(f"{path}.role", "only the first role is kept on the case")
    member = p.get("member")
    if not member:
        raise MappingError(f"{path}.member", "a care-team participant needs a member")
    target = local_ref(member.get("reference"))
    rtype = target.split("/", 1)[0] if target and "/" in target else None
    resource = resources.get(target) if target else None
    if rtype is None and target and target.startswith("#"):
        resource = resources.get(target)
        rtype = (resource or {}).get("resourceType")
    kind = MEMBER_KIND_FROM.get(rtype) if rtype else None
    if kind is None:
        if rtype == "CareTeam":
            raise MappingError(f"{path}.member", "nested care teams are not supported")
        kind = cases.MemberKind.PRACTITIONER
        if rtype is not None:
            report.unsupported(f"{path}.member", f"member type {rtype} kept as practitioner")
    name = member.get("display") or _resource_name(resource)
    if not name:
        raise MappingError(f"{path}.member", "a member needs a display name")
    ident = None
    if member.get("identifier"):
        ident = identifier_from_fhir(member["identifier"], f"{path}.member.identifier", report)
    elif resource and kind != cases.MemberKind.PATIENT:
        for i, rid in enumerate(resource.get("identifier") or []):
            if not is_hub_system(rid.get("system")):
                ident = identifier_from_fhir(rid, f"{rtype}.identifier[{i}]", report)
                if ident is not None:
                    break
    on_behalf_of = party_from_reference(p.get("onBehalfOf"), f"{path}.onBehalfOf", report)
    if on_behalf_of is None and resource and resource.get("resourceType") == "PractitionerRole":
        on_behalf_of = party_from_reference(resource.get("organization"),
                                            "PractitionerRole.organization", report)
    mid = p.get("id")
    if resource is not None:
        mid = find_hub_identifier(resource, MEMBER, case_id) or mid
    if mid is None:
        mid = resource_id(case_id or "", "participant", target or f"{name}|{role.code}")
    return cases.CareTeamMember(
        name=name, role=role, id=mid, kind=kind, identifier=ident, on_behalf_of=on_behalf_of,
        period=period_from_fhir(p.get("period"), f"{path}.period"),
        contact=contact_from_fhir(resource) if resource and kind != cases.MemberKind.PATIENT
        else None)


def _resource_name(resource: dict[str, Any] | None) -> str | None:
    if not resource:
        return None
    name = resource.get("name")
    if isinstance(name, str):
        return name
    for n in name or []:
        if n.get("text"):
            return str(n["text"])
        parts = [*n.get("given", []), n.get("family", "")]
        if any(parts):
            return " ".join(x for x in parts if x)
    prac = resource.get("practitioner") or {}
    return prac.get("display")


def careteam_from_fhir(data: dict[str, Any], case_id: str | None = None, report: Report | None = None,
                       resources: dict[str, dict[str, Any]] | None = None) -> list[cases.CareTeamMember]:
    """An R4 CareTeam as care-team members. ``resources`` maps ``Type/id`` (and ``#id`` for
    contained ones) to member resources, used for contact details and ids."""
    report = report if report is not None else Report()
    resources = dict(resources or {})
    for c in data.get("contained") or []:
        resources[f"#{c.get('id')}"] = c
    if data.get("resourceType") != "CareTeam":
        raise MappingError("resourceType", "expected a CareTeam")
    return [_member_from_participant(p, f"CareTeam.participant[{i}]", case_id, report, resources)
            for i, p in enumerate(data.get("participant") or [])]


def apply_careteam(case: cases.Case, data: dict[str, Any], resources: dict[str, dict[str, Any]] | None = None,
                   report: Report | None = None, today: date | None = None) -> Report:
    """Apply an inbound CareTeam onto the case: members added, periods (ended) updated.

    Members match by id, by member reference, by identifier, then by name and role. When the
    inbound team is the hub's own CareTeam, members missing from it are ended ``today``.
    """
    report = report if report is not None else Report()
    incoming = careteam_from_fhir(data, case.id, report, resources)
    ours = data.get("id") == careteam_id(case.id) or find_hub_identifier(data, KIND) == case.id
    matched: set[str] = set()
    for i, new in enumerate(incoming):
        target = _match_member(case, new, (data.get("participant") or [])[i])
        if target is None:
            case.care_team.append(new)
            matched.add(new.id)
            report.note(f"CareTeam.participant[{i}]", f"member {new.name} added")
            continue
        matched.add(target.id)
        if new.period is not None and new.period != target.period:
            target.period = new.period
            if new.period.end is not None:
                report.note(f"CareTeam.participant[{i}]", f"member {target.name} ended")
        if new.role != target.role:
            target.role = new.role
        if new.on_behalf_of is not None:
            target.on_behalf_of = new.on_behalf_of
    if ours and today is not None:
        for m in case.care_team:
            if m.id not in matched and (m.period is None or m.period.end is None):
                start = m.period.start if m.period else None
                m.period = cases.Period(start=start, end=today)
                report.note("CareTeam.participant", f"member {m.name} ended (removed)")
    return report


def _match_member(case: cases.Case, new: cases.CareTeamMember,
                  participant: dict[str, Any]) -> cases.CareTeamMember | None:
    target_ref = local_ref((participant.get("member") or {}).get("reference"))
    for m in case.care_team:
        if m.id == new.id or (target_ref and local_ref(
                member_reference(case, m)["reference"]) == target_ref):
            return m
    if new.identifier is not None:
        for m in case.care_team:
            if m.identifier is not None and (m.identifier.system, m.identifier.value) == (
                    new.identifier.system, new.identifier.value):
                return m
    for m in case.care_team:
        if m.name == new.name and (m.role.system, m.role.code) == (new.role.system,
                                                                    new.role.code):
            return m
    return None
