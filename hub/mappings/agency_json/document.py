"""The referral document the hub POSTs to an agency (``{base}/referrals``), and reading one
back. The document is a deterministic function of the case (no clock, no random): a retried
delivery sends the same content, and the agency's idempotency check answers 200, not 409."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, cast

from hub import cases
from hub.mappings.agency_json.terms import AUTH_FROM, AUTHORIZED, PERIOD_UNITS, UNIT_FROM
from hub.mappings.agency_json.values import (
    array,
    drop_none,
    identifier_in,
    identifier_out,
    obj,
    one_of,
    parse_date,
    parse_stamp,
    period_in,
    stamp,
    text,
)
from hub.mappings.datatypes import fhir_date, period_to_fhir
from hub.mappings.errors import MappingError


def _activity(case: cases.Case, referral: cases.Referral) -> cases.Activity | None:
    if referral.activity is None:
        return None
    return next((a for a in case.plan.activities if a.id == referral.activity), None)


def _same_party(member: cases.CareTeamMember, party: cases.Party) -> bool:
    if party.identifier is not None and member.identifier is not None:
        return (party.identifier.system, party.identifier.value) == (
            member.identifier.system, member.identifier.value)
    return member.name == party.name


def case_manager_contact(case: cases.Case) -> cases.Contact | None:
    """The case manager's phone/email: from the care-team member who is the case manager."""
    if case.case_manager is None:
        return None
    for member in case.care_team:
        if member.contact is not None and _same_party(member, case.case_manager):
            return member.contact
    return None


def _patient_out(patient: cases.Patient) -> dict[str, Any]:
    """The patient, minimum necessary: name, birth date, gender, identifiers, phone, address."""
    out: dict[str, Any] = {"name": drop_none({"family": patient.name.family,
                                     "given": list(patient.name.given)})}
    if patient.birth_date is not None:
        out["birth_date"] = fhir_date(patient.birth_date)
    out["gender"] = patient.gender.value
    if patient.identifiers:
        out["identifiers"] = [identifier_out(i) for i in patient.identifiers]
    contact = patient.contact
    if contact is not None and contact.phone:
        out["phone"] = contact.phone
    if contact is not None and contact.address is not None:
        a = contact.address
        address = drop_none({"lines": list(a.lines), "city": a.city, "state": a.state,
                              "postal_code": a.postal_code, "country": a.country})
        if address:
            out["address"] = address
    return out


def _authorization(source: cases.FundingSource, service: cases.Code) -> dict[str, Any] | None:
    """The authorization of ``service`` by this funding source, when one was granted."""
    for decision in source.decisions:
        if decision.status not in AUTHORIZED:
            continue
        if (decision.service.system, decision.service.code) != (service.system, service.code):
            continue
        return drop_none({"status": AUTHORIZED[decision.status],
                           "number": decision.authorization_number,
                           "visits": decision.quantity,
                           "period": period_to_fhir(decision.period)})
    return None


def _funding_out(case: cases.Case, service: cases.Code) -> list[dict[str, Any]]:
    out = []
    for source in case.funding_in_order():
        payer = drop_none({"name": source.payer.name,
                            "identifier": identifier_out(source.payer.identifier, False)
                            if source.payer.identifier is not None else None})
        out.append(drop_none({
            "kind": source.kind.value, "payer": payer, "plan": source.plan,
            "member_id": source.member_id, "group": source.group,
            "relationship": source.relationship.value,
            "authorization": _authorization(source, service)}))
    return out


def referral_to_agency_json(case: cases.Case, referral: cases.Referral, *,
                            contact: cases.Contact | None = None) -> dict[str, Any]:
    """The agency-json referral document (the body of ``POST {base}/referrals``).

    ``contact`` is how the agency reaches the ordering case manager; by default the contact
    of the care-team member who is the case manager. Raises MappingError for a draft or open
    referral (only a requested referral addressed to an agency is sent).
    """
    if referral.status in (cases.ReferralStatus.DRAFT, cases.ReferralStatus.ENTERED_IN_ERROR):
        raise MappingError("status", f"a {referral.status} referral is not sent to an agency")
    if referral.agency is None:
        raise MappingError("agency", "an open referral has no agency to send it to")
    activity = _activity(case, referral)
    out: dict[str, Any] = {"id": referral.id}
    if referral.requested_at is not None:
        out["requested_at"] = stamp(referral.requested_at)
    out["patient"] = _patient_out(case.patient)
    out["service"] = drop_none({"system": referral.service.system,
                                 "code": referral.service.code,
                                 "display": referral.service.display})
    if referral.reason:
        out["reason"] = referral.reason
    window = period_to_fhir(referral.period or (activity.period if activity else None))
    if window:
        out["service_window"] = window
    if activity is not None and activity.frequency is not None:
        f = activity.frequency
        out["frequency"] = {"count": f.count, "period": f.period, "unit": PERIOD_UNITS[f.unit]}
    if case.case_manager is not None:
        manager = case.case_manager
        contact = contact if contact is not None else case_manager_contact(case)
        ordering: dict[str, Any] = {"name": manager.name}
        if manager.identifier is not None:
            ordering["identifier"] = identifier_out(manager.identifier, False)
        if contact is not None:
            ordering.update(drop_none({"phone": contact.phone, "email": contact.email}))
        out["ordering"] = ordering
    funding = _funding_out(case, referral.service)
    if funding:
        out["funding"] = funding
    if referral.description:
        out["notes"] = referral.description
    return out


# --- reading a referral document back -----------------------------------------------------


@dataclass
class AgencyReferral:
    """A referral document read back into case parts."""

    referral: cases.Referral
    patient: cases.Patient
    frequency: cases.Frequency | None = None
    case_manager: cases.Party | None = None
    contact: cases.Contact | None = None
    funding: list[cases.FundingSource] = field(default_factory=list)


def _patient_in(data: object, path: str) -> cases.Patient:
    data = obj(data, path)
    name = obj(data.get("name"), f"{path}.name")
    given = array(name.get("given"), f"{path}.name.given")
    gender = data.get("gender", cases.Gender.UNKNOWN.value)
    one_of(gender, [g.value for g in cases.Gender], f"{path}.gender", "gender")
    contact = None
    address = None
    if data.get("address") is not None:
        a = obj(data["address"], f"{path}.address")
        address = cases.Address(lines=list(array(a.get("lines"), f"{path}.address.lines")),
                                city=a.get("city"), state=a.get("state"),
                                postal_code=a.get("postal_code"), country=a.get("country"))
    if data.get("phone") or address is not None:
        contact = cases.Contact(phone=text(data, "phone", f"{path}."), address=address)
    return cases.Patient(
        name=cases.HumanName(family=text(name, "family", f"{path}.name.", True),
                             given=list(given)),
        birth_date=parse_date(data.get("birth_date"), f"{path}.birth_date"),
        gender=cases.Gender(gender),
        identifiers=[identifier_in(i, f"{path}.identifiers[{n}]")
                     for n, i in enumerate(array(data.get("identifiers"),
                                                 f"{path}.identifiers"))],
        contact=contact)


def _funding_in(data: object, path: str, service: cases.Code) -> cases.FundingSource:
    data = obj(data, path)
    kind = one_of(data.get("kind"), [k.value for k in cases.FundingKind], f"{path}.kind",
                 "funding kind")
    payer = obj(data.get("payer"), f"{path}.payer")
    ident = None
    if payer.get("identifier") is not None:
        raw = obj(payer["identifier"], f"{path}.payer.identifier")
        ident = cases.Identifier(system=text(raw, "system", f"{path}.payer.identifier.", True),
                                 value=text(raw, "value", f"{path}.payer.identifier.", True))
    relationship = data.get("relationship", cases.SubscriberRelationship.SELF.value)
    one_of(relationship, [r.value for r in cases.SubscriberRelationship],
          f"{path}.relationship", "relationship")
    decisions = []
    if data.get("authorization") is not None:
        auth = obj(data["authorization"], f"{path}.authorization")
        status = one_of(auth.get("status"), list(AUTH_FROM), f"{path}.authorization.status",
                       "authorization status")
        decisions.append(cases.CoverageDecision(
            service=copy.deepcopy(service), status=AUTH_FROM[status],
            authorization_number=auth.get("number"), quantity=auth.get("visits"),
            period=period_in(auth.get("period"), f"{path}.authorization.period")))
    return cases.FundingSource(
        kind=cases.FundingKind(kind),
        payer=cases.Party(name=text(payer, "name", f"{path}.payer.", True), identifier=ident),
        plan=data.get("plan"), member_id=data.get("member_id"), group=data.get("group"),
        relationship=cases.SubscriberRelationship(relationship), decisions=decisions)


def referral_from_agency_json(body: dict[str, Any], agency: cases.Party | None = None) -> AgencyReferral:
    """Read a referral document back (the inverse of ``referral_to_agency_json``)."""
    body = obj(body, "")
    service_data = obj(body.get("service"), "service")
    service = cases.Code(system=text(service_data, "system", "service.", True),
                         code=text(service_data, "code", "service.", True),
                         display=text(service_data, "display", "service."))
    frequency = None
    if body.get("frequency") is not None:
        f = obj(body["frequency"], "frequency")
        unit = one_of(f.get("unit"), list(UNIT_FROM), "frequency.unit", "period unit")
        frequency = cases.Frequency(count=cast(int, f.get("count")), period=f.get("period", 1),
                                    unit=UNIT_FROM[unit])
    manager = contact = None
    if body.get("ordering") is not None:
        o = obj(body["ordering"], "ordering")
        ident = None
        if o.get("identifier") is not None:
            raw = obj(o["identifier"], "ordering.identifier")
            ident = cases.Identifier(system=cast(str, raw.get("system")),
                                     value=cast(str, raw.get("value")))
        manager = cases.Party(name=text(o, "name", "ordering.", True), identifier=ident)
        if o.get("phone") or o.get("email"):
            contact = cases.Contact(phone=o.get("phone"), email=o.get("email"))
    referral = cases.Referral(
        service=service, agency=agency, id=text(body, "id", "", True),
        status=cases.ReferralStatus.REQUESTED, description=text(body, "notes", ""),
        reason=text(body, "reason", ""),
        period=period_in(body.get("service_window"), "service_window"),
        requested_at=parse_stamp(body.get("requested_at"), "requested_at"))
    return AgencyReferral(
        referral=referral, patient=_patient_in(body.get("patient"), "patient"),
        frequency=frequency, case_manager=manager, contact=contact,
        funding=[_funding_in(f, f"funding[{i}]", service)
                 for i, f in enumerate(array(body.get("funding"), "funding"))])
