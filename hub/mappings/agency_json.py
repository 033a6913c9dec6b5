"""Case referral <-> the ``agency-json`` protocol (fixtures/partners/agency-json.md).

``agency-json`` is the small plain-JSON referral API that home-health agencies without a
FHIR server implement. This module is pure (no requests, no Flask):

- outbound, ``referral_to_agency_json(case, referral)`` builds the referral document the
  hub POSTs to ``{base}/referrals``: patient, service, reason, service window, frequency,
  ordering case manager and contact, funding with authorization, notes. The document is a
  deterministic function of the case (no clock, no random), so a retried delivery sends the
  same content and the agency's idempotency check answers 200, not 409.
  ``referral_from_agency_json(body)`` reads such a document back (round trips, tests, tools).
- inbound, ``apply_referral_state(case, state)`` applies a referral state the agency
  answered (``GET /referrals/{id}`` or one item of the change feed): the agency's status
  history is replayed with ``Referral.move(to, Actor.OWNER, reason, at)`` (an illegal move
  raises ``CaseRuleError``), visits become ``Encounter``s of kind home-visit with the
  referral id, visit summaries become case notes. Applying the same state again changes
  nothing; an unknown status is refused with a ``MappingError`` naming the field.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any, Literal, cast, overload

from hub import cases
from hub.mappings.errors import MappingError, Report

#: The protocol version this module speaks (the documented format).
PROTOCOL = "agency-json/1"

#: Status values of the agency-json referral state, one-to-one with ReferralStatus.
STATUSES: tuple[str, ...] = ("requested", "received", "accepted", "rejected", "in-progress",
                             "on-hold", "completed", "failed", "cancelled")
#: Who made a history entry: the agency (applied by the hub as the Task owner) or the hub.
HISTORY_BY = ("agency", "hub")
#: Visit status -> Encounter status.
VISIT_STATUS: dict[str, cases.EncounterStatus] = {
    "scheduled": cases.EncounterStatus.PLANNED,
    "in-progress": cases.EncounterStatus.IN_PROGRESS,
    "completed": cases.EncounterStatus.FINISHED,
    "cancelled": cases.EncounterStatus.CANCELLED,
}
#: Frequency period units: agency-json word <-> case PeriodUnit (UCUM).
PERIOD_UNITS: dict[cases.PeriodUnit, str] = {
    cases.PeriodUnit.HOUR: "hour", cases.PeriodUnit.DAY: "day",
    cases.PeriodUnit.WEEK: "week", cases.PeriodUnit.MONTH: "month",
    cases.PeriodUnit.YEAR: "year",
}
_UNIT_FROM = {v: k for k, v in PERIOD_UNITS.items()}
#: Coverage decisions that carry an authorization the agency bills against.
AUTHORIZED = {cases.DecisionStatus.AUTH_APPROVED: "approved",
              cases.DecisionStatus.AUTH_PARTIAL: "partial",
              cases.DecisionStatus.AUTH_MODIFIED: "modified"}
_AUTH_FROM = {v: k for k, v in AUTHORIZED.items()}
#: Namespace of the deterministic ids of visits (encounters, notes) received from agencies.
VISIT_NAMESPACE = uuid.UUID("6f1b7d0e-2b6a-5c4e-9a0e-5a2f7c1d9e31")


# --- small helpers -----------------------------------------------------------------------


def _date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise MappingError("requested_at", "a time needs a timezone")
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace(
        "+00:00", "Z")


def _parse_date(value: object, path: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MappingError(path, "expected a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise MappingError(path, f"{value!r} is not a date YYYY-MM-DD") from exc


@overload
def _parse_stamp(value: object, path: str, required: Literal[True]) -> datetime: ...
@overload
def _parse_stamp(value: object, path: str, required: bool = False) -> datetime | None: ...
def _parse_stamp(value: object, path: str, required: bool = False) -> datetime | None:
    """An RFC 3339 time with offset, to the second, in UTC."""
    if value is None:
        if required:
            raise MappingError(path, "required")
        return None
    if not isinstance(value, str) or "T" not in value:
        raise MappingError(path, "expected an RFC 3339 date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise MappingError(path, f"{value!r} is not an RFC 3339 date-time") from exc
    if parsed.tzinfo is None:
        raise MappingError(path, f"{value!r} has no UTC offset")
    return parsed.astimezone(UTC).replace(microsecond=0)


@overload
def _text(data: dict[str, Any], key: str, path: str, required: Literal[True]) -> str: ...
@overload
def _text(data: dict[str, Any], key: str, path: str, required: bool = False) -> str | None: ...
def _text(data: dict[str, Any], key: str, path: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise MappingError(f"{path}{key}", "required")
        return None
    if not isinstance(value, str):
        raise MappingError(f"{path}{key}", "expected a string")
    return value


def _obj(data: object, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MappingError(path or "$", "expected an object")
    return data


def _list(data: object, path: str) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise MappingError(path, "expected an array")
    return data


def _enum(value: object, allowed: Sequence[str], path: str, what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise MappingError(path, f"unknown {what} {value!r} (expected one of "
                                 f"{', '.join(allowed)})")
    return value


def _period_out(period: cases.Period | None) -> dict[str, Any] | None:
    if period is None or (period.start is None and period.end is None):
        return None
    out = {}
    if period.start is not None:
        out["start"] = _date(period.start)
    if period.end is not None:
        out["end"] = _date(period.end)
    return out


def _period_in(data: object, path: str) -> cases.Period | None:
    if data is None:
        return None
    data = _obj(data, path)
    return cases.Period(start=_parse_date(data.get("start"), f"{path}.start"),
                        end=_parse_date(data.get("end"), f"{path}.end"))


def _identifier_out(ident: cases.Identifier, with_kind: bool = True) -> dict[str, Any]:
    out = {"system": ident.system, "value": ident.value}
    if with_kind:
        out["kind"] = ident.kind.value
    return out


def _identifier_in(data: object, path: str) -> cases.Identifier:
    data = _obj(data, path)
    kind = data.get("kind", cases.IdentifierKind.OTHER.value)
    _enum(kind, [k.value for k in cases.IdentifierKind], f"{path}.kind", "identifier kind")
    return cases.Identifier(system=_text(data, "system", f"{path}.", True),
                            value=_text(data, "value", f"{path}.", True),
                            kind=cases.IdentifierKind(kind))


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != [] and v != {}}


# --- outbound: the referral document ------------------------------------------------------


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
    out: dict[str, Any] = {"name": _drop_none({"family": patient.name.family,
                                     "given": list(patient.name.given)})}
    if patient.birth_date is not None:
        out["birth_date"] = _date(patient.birth_date)
    out["gender"] = patient.gender.value
    if patient.identifiers:
        out["identifiers"] = [_identifier_out(i) for i in patient.identifiers]
    contact = patient.contact
    if contact is not None and contact.phone:
        out["phone"] = contact.phone
    if contact is not None and contact.address is not None:
        a = contact.address
        address = _drop_none({"lines": list(a.lines), "city": a.city, "state": a.state,
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
        return _drop_none({"status": AUTHORIZED[decision.status],
                           "number": decision.authorization_number,
                           "visits": decision.quantity,
                           "period": _period_out(decision.period)})
    return None


def _funding_out(case: cases.Case, service: cases.Code) -> list[dict[str, Any]]:
    out = []
    for source in case.funding_in_order():
        payer = _drop_none({"name": source.payer.name,
                            "identifier": _identifier_out(source.payer.identifier, False)
                            if source.payer.identifier is not None else None})
        out.append(_drop_none({
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
        out["requested_at"] = _stamp(referral.requested_at)
    out["patient"] = _patient_out(case.patient)
    out["service"] = _drop_none({"system": referral.service.system,
                                 "code": referral.service.code,
                                 "display": referral.service.display})
    if referral.reason:
        out["reason"] = referral.reason
    window = _period_out(referral.period or (activity.period if activity else None))
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
            ordering["identifier"] = _identifier_out(manager.identifier, False)
        if contact is not None:
            ordering.update(_drop_none({"phone": contact.phone, "email": contact.email}))
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
    data = _obj(data, path)
    name = _obj(data.get("name"), f"{path}.name")
    given = _list(name.get("given"), f"{path}.name.given")
    gender = data.get("gender", cases.Gender.UNKNOWN.value)
    _enum(gender, [g.value for g in cases.Gender], f"{path}.gender", "gender")
    contact = None
    address = None
    if data.get("address") is not None:
        a = _obj(data["address"], f"{path}.address")
        address = cases.Address(lines=list(_list(a.get("lines"), f"{path}.address.lines")),
                                city=a.get("city"), state=a.get("state"),
                                postal_code=a.get("postal_code"), country=a.get("country"))
    if data.get("phone") or address is not None:
        contact = cases.Contact(phone=_text(data, "phone", f"{path}."), address=address)
    return cases.Patient(
        name=cases.HumanName(family=_text(name, "family", f"{path}.name.", True),
                             given=list(given)),
        birth_date=_parse_date(data.get("birth_date"), f"{path}.birth_date"),
        gender=cases.Gender(gender),
        identifiers=[_identifier_in(i, f"{path}.identifiers[{n}]")
                     for n, i in enumerate(_list(data.get("identifiers"),
                                                 f"{path}.identifiers"))],
        contact=contact)


def _funding_in(data: object, path: str, service: cases.Code) -> cases.FundingSource:
    data = _obj(data, path)
    kind = _enum(data.get("kind"), [k.value for k in cases.FundingKind], f"{path}.kind",
                 "funding kind")
    payer = _obj(data.get("payer"), f"{path}.payer")
    ident = None
    if payer.get("identifier") is not None:
        raw = _obj(payer["identifier"], f"{path}.payer.identifier")
        ident = cases.Identifier(system=_text(raw, "system", f"{path}.payer.identifier.", True),
                                 value=_text(raw, "value", f"{path}.payer.identifier.", True))
    relationship = data.get("relationship", cases.SubscriberRelationship.SELF.value)
    _enum(relationship, [r.value for r in cases.SubscriberRelationship],
          f"{path}.relationship", "relationship")
    decisions = []
    if data.get("authorization") is not None:
        auth = _obj(data["authorization"], f"{path}.authorization")
        status = _enum(auth.get("status"), list(_AUTH_FROM), f"{path}.authorization.status",
                       "authorization status")
        decisions.append(cases.CoverageDecision(
            service=copy.deepcopy(service), status=_AUTH_FROM[status],
            authorization_number=auth.get("number"), quantity=auth.get("visits"),
            period=_period_in(auth.get("period"), f"{path}.authorization.period")))
    return cases.FundingSource(
        kind=cases.FundingKind(kind),
        payer=cases.Party(name=_text(payer, "name", f"{path}.payer.", True), identifier=ident),
        plan=data.get("plan"), member_id=data.get("member_id"), group=data.get("group"),
        relationship=cases.SubscriberRelationship(relationship), decisions=decisions)


def referral_from_agency_json(body: dict[str, Any], agency: cases.Party | None = None) -> AgencyReferral:
    """Read a referral document back (the inverse of ``referral_to_agency_json``)."""
    body = _obj(body, "")
    service_data = _obj(body.get("service"), "service")
    service = cases.Code(system=_text(service_data, "system", "service.", True),
                         code=_text(service_data, "code", "service.", True),
                         display=_text(service_data, "display", "service."))
    frequency = None
    if body.get("frequency") is not None:
        f = _obj(body["frequency"], "frequency")
        unit = _enum(f.get("unit"), list(_UNIT_FROM), "frequency.unit", "period unit")
        frequency = cases.Frequency(count=cast(int, f.get("count")), period=f.get("period", 1),
                                    unit=_UNIT_FROM[unit])
    manager = contact = None
    if body.get("ordering") is not None:
        o = _obj(body["ordering"], "ordering")
        ident = None
        if o.get("identifier") is not None:
            raw = _obj(o["identifier"], "ordering.identifier")
            ident = cases.Identifier(system=cast(str, raw.get("system")),
                                     value=cast(str, raw.get("value")))
        manager = cases.Party(name=_text(o, "name", "ordering.", True), identifier=ident)
        if o.get("phone") or o.get("email"):
            contact = cases.Contact(phone=o.get("phone"), email=o.get("email"))
    referral = cases.Referral(
        service=service, agency=agency, id=_text(body, "id", "", True),
        status=cases.ReferralStatus.REQUESTED, description=_text(body, "notes", ""),
        reason=_text(body, "reason", ""),
        period=_period_in(body.get("service_window"), "service_window"),
        requested_at=_parse_stamp(body.get("requested_at"), "requested_at"))
    return AgencyReferral(
        referral=referral, patient=_patient_in(body.get("patient"), "patient"),
        frequency=frequency, case_manager=manager, contact=contact,
        funding=[_funding_in(f, f"funding[{i}]", service)
                 for i, f in enumerate(_list(body.get("funding"), "funding"))])


# --- inbound: referral state (status history and visits) ----------------------------------


@dataclass
class HistoryEntry:
    status: cases.ReferralStatus
    at: datetime
    by: str
    reason: str | None = None


@dataclass
class Visit:
    id: str
    status: str
    start: datetime | None
    end: datetime | None
    clinician_name: str | None = None
    clinician_role: str | None = None
    summary: str | None = None


@dataclass
class ReferralState:
    """One referral as the agency reports it (``GET /referrals/{id}``, a change feed item)."""

    id: str
    status: cases.ReferralStatus
    status_reason: str | None
    updated_at: datetime
    history: list[HistoryEntry]
    visits: list[Visit]
    agency_reference: str | None = None


def _status(value: object, path: str) -> cases.ReferralStatus:
    return cases.ReferralStatus(_enum(value, STATUSES, path, "agency-json referral status"))


def parse_referral_state(data: object, path: str = "") -> ReferralState:
    """Validate and read a referral state; MappingError names the offending field
    (``status``, ``history[2].status``, ``visits[0].start``...), prefixed with ``path``."""
    p = f"{path}." if path else ""
    data = _obj(data, path)
    status = _status(data.get("status"), f"{p}status")
    history = []
    for i, raw in enumerate(_list(data.get("history"), f"{p}history")):
        hp = f"{p}history[{i}]"
        raw = _obj(raw, hp)
        history.append(HistoryEntry(
            status=_status(raw.get("status"), f"{hp}.status"),
            at=_parse_stamp(raw.get("at"), f"{hp}.at", required=True),
            by=_enum(raw.get("by"), HISTORY_BY, f"{hp}.by", "history author"),
            reason=_text(raw, "reason", f"{hp}.")))
    if not history:
        raise MappingError(f"{p}history", "a referral state needs its status history")
    if history[-1].status != status:
        raise MappingError(f"{p}history", f"the history ends in {history[-1].status}, "
                                          f"not in the status {status}")
    visits = []
    for i, raw in enumerate(_list(data.get("visits"), f"{p}visits")):
        vp = f"{p}visits[{i}]"
        raw = _obj(raw, vp)
        clinician = _obj(raw.get("clinician") or {}, f"{vp}.clinician")
        start = _parse_stamp(raw.get("start"), f"{vp}.start", required=True)
        end = _parse_stamp(raw.get("end"), f"{vp}.end")
        if end is not None and end < start:
            raise MappingError(f"{vp}.end", "a visit cannot end before it starts")
        default = "completed" if end is not None else "in-progress"
        visits.append(Visit(
            id=_text(raw, "id", f"{vp}.", True),
            status=_enum(raw.get("status", default), list(VISIT_STATUS), f"{vp}.status",
                         "visit status"),
            start=start, end=end,
            clinician_name=_text(clinician, "name", f"{vp}.clinician."),
            clinician_role=_text(clinician, "role", f"{vp}.clinician."),
            summary=_text(raw, "summary", f"{vp}.")))
    return ReferralState(
        id=_text(data, "id", p, True), status=status,
        status_reason=_text(data, "status_reason", p),
        updated_at=_parse_stamp(data.get("updated_at"), f"{p}updated_at", required=True),
        history=history, visits=visits,
        agency_reference=_text(data, "agency_reference", p))


def visit_encounter_id(referral_id: str, visit_id: str) -> str:
    """The deterministic case Encounter id of an agency's visit (same visit, same id)."""
    return str(uuid.uuid5(VISIT_NAMESPACE, f"agency-json/{referral_id}/visit/{visit_id}"))


def visit_note_id(referral_id: str, visit_id: str) -> str:
    return str(uuid.uuid5(VISIT_NAMESPACE, f"agency-json/{referral_id}/note/{visit_id}"))


def visit_to_encounter(referral: cases.Referral, visit: Visit) -> cases.Encounter:
    """A visit as a case Encounter: kind home-visit, the referral id, the agency as facility."""
    return cases.Encounter(kind=cases.EncounterKind.HOME_VISIT,
                           id=visit_encounter_id(referral.id, visit.id),
                           status=VISIT_STATUS[visit.status], start=visit.start,
                           end=visit.end, facility=copy.deepcopy(referral.agency),
                           referral=referral.id)


def _visit_note(referral: cases.Referral, visit: Visit) -> cases.Note | None:
    if not visit.summary:
        return None
    who = ", ".join(x for x in (visit.clinician_name, visit.clinician_role) if x)
    agency = referral.agency.name if referral.agency is not None else None
    author = f"{who} ({agency})" if who and agency else (who or agency)
    return cases.Note(text=visit.summary, at=cast(datetime, visit.end or visit.start), author=author,
                      id=visit_note_id(referral.id, visit.id))


def _collapse(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    out: list[HistoryEntry] = []
    for e in entries:
        if not out or out[-1].status != e.status:
            out.append(e)
    return out


def _replay(referral: cases.Referral, state: ReferralState, path: str, report: Report) -> None:
    """Move ``referral`` along the agency's entries of the history it has not applied yet.

    The hub's owner entries are a prefix of the agency's entries (the hub applies nothing
    else as owner): the first ``len(applied)`` agency entries are already on the case.
    """
    if state.status == referral.status:
        return  # in step (also: the hub cancelled and the agency confirms)
    agency = _collapse([e for e in state.history if e.by == "agency"])
    applied = [h for h in referral.history if h.by == cases.Actor.OWNER.value]
    for i, (mine, theirs) in enumerate(zip(applied, agency)):
        if mine.status != theirs.status.value:
            raise MappingError(f"{path}history", f"the agency's history ({theirs.status} at "
                                                 f"step {i + 1}) disagrees with the hub's "
                                                 f"({mine.status})")
    if len(applied) > len(agency):
        raise MappingError(f"{path}history", "the agency's history is shorter than what the "
                                             "hub already applied (did the agency lose data?)")
    for entry in agency[len(applied):]:
        before = referral.status
        if entry.status == before:
            continue
        referral.move(entry.status, cases.Actor.OWNER, entry.reason, at=entry.at)
        report.note(f"{path}status", f"referral {before} -> {entry.status}")
    if referral.status != state.status:
        raise MappingError(f"{path}status", f"the agency reports {state.status} but its "
                                            f"history leads to {referral.status}")


def _update(target: Any, source: Any) -> None:
    for f in fields(target):
        setattr(target, f.name, getattr(source, f.name))


def apply_referral_state(case: cases.Case, data: dict[str, Any], *, path: str = "",
                         report: Report | None = None) -> Report:
    """Apply an agency's referral state to the case; idempotent, all or nothing.

    Status moves are validated by ``Referral.move(to, Actor.OWNER, reason)`` (CaseRuleError
    on an illegal move); visits are added or updated as home-visit encounters (deterministic
    ids, so pulling the same state twice adds nothing); a visit summary becomes a case note.
    Nothing on the case changes when any part is refused.
    """
    report = report if report is not None else Report()
    p = f"{path}." if path else ""
    state = parse_referral_state(data, path)
    try:
        original = case.referral(state.id)
    except KeyError:
        raise MappingError(f"{p}id", "not a referral of this case") from None
    referral = copy.deepcopy(original)
    _replay(referral, state, p, report)
    encounters: list[cases.Encounter] = []  # (new or changed) visits, then notes
    notes: list[cases.Note] = []
    known = {e.id: e for e in case.encounters}
    known_notes = {n.id: n for n in case.notes}
    for i, visit in enumerate(state.visits):
        enc = visit_to_encounter(referral, visit)
        if enc.id not in known:
            report.note(f"{p}visits[{i}]", f"home visit added ({enc.status})")
            encounters.append(enc)
        elif known[enc.id] != enc:
            report.note(f"{p}visits[{i}]", f"home visit updated ({enc.status})")
            encounters.append(enc)
        note = _visit_note(referral, visit)
        if note is not None:
            old = known_notes.get(note.id)
            if old is None or (old.text, old.author, old.at) != (note.text, note.author,
                                                                 note.at):
                notes.append(note)
    # nothing was refused: apply, updating the case's objects in place (callers may hold them)
    _update(original, referral)
    for enc in encounters:
        if enc.id in known:
            _update(known[enc.id], enc)
        else:
            case.encounters.append(enc)
    for note in notes:
        if note.id in known_notes:
            _update(known_notes[note.id], note)
        else:
            case.notes.append(note)
    case.follow_referrals()  # the plan activity the referral carries out follows it
    return report


__all__ = [
    "PROTOCOL",
    "STATUSES",
    "VISIT_STATUS",
    "AgencyReferral",
    "ReferralState",
    "apply_referral_state",
    "case_manager_contact",
    "parse_referral_state",
    "referral_from_agency_json",
    "referral_to_agency_json",
    "visit_encounter_id",
    "visit_to_encounter",
]
