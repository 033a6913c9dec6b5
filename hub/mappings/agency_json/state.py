"""An agency's referral state (``GET /referrals/{id}``, an item of the change feed) read
strictly and applied to the case: the status history replayed as the Task owner's moves,
visits as home-visit encounters, visit summaries as case notes. Idempotent, all or nothing."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, cast

from hub import cases
from hub.mappings.agency_json.terms import HISTORY_BY, STATUSES, VISIT_NAMESPACE, VISIT_STATUS
from hub.mappings.agency_json.values import array, obj, one_of, parse_stamp, text
from hub.mappings.errors import MappingError, Report


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
    return cases.ReferralStatus(one_of(value, STATUSES, path, "agency-json referral status"))


def parse_referral_state(data: object, path: str = "") -> ReferralState:
    """Validate and read a referral state; MappingError names the offending field
    (``status``, ``history[2].status``, ``visits[0].start``...), prefixed with ``path``."""
    p = f"{path}." if path else ""
    data = obj(data, path)
    status = _status(data.get("status"), f"{p}status")
    history = []
    for i, raw in enumerate(array(data.get("history"), f"{p}history")):
        hp = f"{p}history[{i}]"
        raw = obj(raw, hp)
        history.append(HistoryEntry(
            status=_status(raw.get("status"), f"{hp}.status"),
            at=parse_stamp(raw.get("at"), f"{hp}.at", required=True),
            by=one_of(raw.get("by"), HISTORY_BY, f"{hp}.by", "history author"),
            reason=text(raw, "reason", f"{hp}.")))
    if not history:
        raise MappingError(f"{p}history", "a referral state needs its status history")
    if history[-1].status != status:
        raise MappingError(f"{p}history", f"the history ends in {history[-1].status}, "
                                          f"not in the status {status}")
    visits = []
    for i, raw in enumerate(array(data.get("visits"), f"{p}visits")):
        vp = f"{p}visits[{i}]"
        raw = obj(raw, vp)
        clinician = obj(raw.get("clinician") or {}, f"{vp}.clinician")
        start = parse_stamp(raw.get("start"), f"{vp}.start", required=True)
        end = parse_stamp(raw.get("end"), f"{vp}.end")
        if end is not None and end < start:
            raise MappingError(f"{vp}.end", "a visit cannot end before it starts")
        default = "completed" if end is not None else "in-progress"
        visits.append(Visit(
            id=text(raw, "id", f"{vp}.", True),
            status=one_of(raw.get("status", default), list(VISIT_STATUS), f"{vp}.status",
                         "visit status"),
            start=start, end=end,
            clinician_name=text(clinician, "name", f"{vp}.clinician."),
            clinician_role=text(clinician, "role", f"{vp}.clinician."),
            summary=text(raw, "summary", f"{vp}.")))
    return ReferralState(
        id=text(data, "id", p, True), status=status,
        status_reason=text(data, "status_reason", p),
        updated_at=parse_stamp(data.get("updated_at"), f"{p}updated_at", required=True),
        history=history, visits=visits,
        agency_reference=text(data, "agency_reference", p))


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
