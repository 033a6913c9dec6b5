"""hub.mappings.agency_json: the referral document round trip, each status, refusals."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from hub import cases as c
from hub.mappings.agency_json import (
    STATUSES,
    apply_referral_state,
    parse_referral_state,
    referral_from_agency_json,
    referral_to_agency_json,
    visit_encounter_id,
)
from hub.mappings.errors import MappingError

from .agency_case import AGENCY, referral_case
from .schemas import EXAMPLES, assert_valid

UTC = UTC
RID = "5d2c7a4e-8f0b-4b1e-9a6c-2f1e0d9c8b7a"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def at(minute: int) -> str:
    return f"2026-03-02T15:{minute:02d}:00Z"


def state(*steps, visits=(), status_reason=None) -> dict:
    """A referral state whose history is requested (by the hub) then ``steps``:
    (status, by) or (status, by, reason)."""
    history = [{"status": "requested", "at": "2026-03-02T14:30:05Z", "by": "hub"}]
    for i, step in enumerate(steps):
        entry = {"status": step[0], "at": at(i + 1), "by": step[1]}
        if len(step) > 2:
            entry["reason"] = step[2]
        history.append(entry)
    out = {"id": RID, "status": history[-1]["status"], "updated_at": history[-1]["at"],
           "history": history, "visits": list(visits)}
    reason = status_reason or history[-1].get("reason")
    if reason:
        out["status_reason"] = reason
    assert_valid("referral-state", out)
    return out


# --- outbound -----------------------------------------------------------

def test_referral_document_round_trips_its_fields():
    case = referral_case()
    ref = case.referrals[0]
    body = referral_to_agency_json(case, ref)
    back = referral_from_agency_json(json.loads(json.dumps(body)), agency=AGENCY)
    assert back.referral.id == ref.id
    assert back.referral.service == ref.service
    assert back.referral.reason == ref.reason
    assert back.referral.description == ref.description
    assert back.referral.period == ref.period
    assert back.referral.requested_at == ref.requested_at
    assert back.referral.agency == AGENCY
    expected_patient = copy.deepcopy(case.patient)
    expected_patient.contact.email = None  # minimum necessary: the patient's email stays home
    assert back.patient == expected_patient
    assert back.frequency == case.plan.activities[0].frequency
    assert back.case_manager == case.case_manager
    assert back.contact == case.care_team[0].contact
    active = case.funding_in_order()
    assert [f.payer for f in back.funding] == [f.payer for f in active]  # order kept
    assert [(f.kind, f.plan, f.member_id, f.group) for f in back.funding] == [
        (f.kind, f.plan, f.member_id, f.group) for f in active]
    auth = back.funding[0].decisions[0]
    original = active[0].decisions[0]
    assert (auth.service, auth.status, auth.authorization_number, auth.quantity,
            auth.period) == (original.service, original.status, original.authorization_number,
                             original.quantity, original.period)
    assert len(back.funding[0].decisions) == 1  # only the referred service's authorization
    assert back.funding[1].decisions == []
    assert referral_to_agency_json(case, ref) == body  # deterministic: retries send the same


def test_minimal_referral_has_only_required_members():
    case = c.Case(patient=c.Patient(name=c.HumanName("Sample")), model=c.CaseModel.BROKERAGE,
                  setting=c.Setting.HOME_HEALTH, id="case-min")
    ref = c.Referral(service=c.Code("http://snomed.info/sct", "385763009"), agency=AGENCY,
                     id="0f9e8d7c-6b5a-4c3d-8e2f-1a0b9c8d7e6f",
                     status=c.ReferralStatus.REQUESTED)
    case.referrals.append(ref)
    body = referral_to_agency_json(case, ref)
    assert body == example("referral.minimal.json")
    back = referral_from_agency_json(body)
    assert back.referral.service == ref.service and back.funding == []


def test_explicit_contact_and_service_window_from_the_activity():
    case = referral_case()
    ref = case.referrals[0]
    ref.period = None
    body = referral_to_agency_json(case, ref, contact=c.Contact(phone="+1-555-0111"))
    assert body["ordering"] == {"name": "Dana Casemanager", "identifier": {
        "system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"},
        "phone": "+1-555-0111"}
    assert body["service_window"] == {"start": "2026-03-03", "end": "2026-04-14"}


@pytest.mark.parametrize("status", [c.ReferralStatus.DRAFT, c.ReferralStatus.ENTERED_IN_ERROR])
def test_draft_referral_is_not_sent(status):
    case = referral_case()
    case.referrals[0].status = status
    with pytest.raises(MappingError) as err:
        referral_to_agency_json(case, case.referrals[0])
    assert err.value.path == "status"


def test_open_referral_is_not_sent():
    case = referral_case()
    case.referrals[0].agency = None
    with pytest.raises(MappingError) as err:
        referral_to_agency_json(case, case.referrals[0])
    assert err.value.path == "agency"


# --- inbound: each status --------------------------------------------------------------------

PATHS = {  # a legal path from requested to each agency-reported status
    "requested": [],
    "received": [("received", "agency")],
    "accepted": [("accepted", "agency")],
    "rejected": [("rejected", "agency", "no nurse available")],
    "in-progress": [("accepted", "agency"), ("in-progress", "agency")],
    "on-hold": [("accepted", "agency"), ("on-hold", "agency", "readmitted")],
    "completed": [("accepted", "agency"), ("in-progress", "agency"), ("completed", "agency")],
    "failed": [("accepted", "agency"), ("failed", "agency", "patient declined")],
    "cancelled": [("cancelled", "hub", "moved away")],
}


def test_every_protocol_status_is_one_hub_status():
    assert set(PATHS) == set(STATUSES)
    assert set(STATUSES) <= {s.value for s in c.ReferralStatus}


@pytest.mark.parametrize("status", [s for s in STATUSES if s != "cancelled"])
def test_each_agency_status_moves_the_referral_as_owner(status):
    case = referral_case()
    payload = state(*PATHS[status])
    apply_referral_state(case, payload)
    ref = case.referrals[0]
    assert ref.status == c.ReferralStatus(status)
    owner_moves = [h for h in ref.history if h.by == "owner"]
    assert [h.status for h in owner_moves] == [s[0] for s in PATHS[status]]
    if status in ("rejected", "on-hold", "failed"):
        assert ref.status_reason == PATHS[status][-1][2]
    if owner_moves:
        assert owner_moves[-1].at == datetime.fromisoformat(payload["updated_at"])
    before = copy.deepcopy(case)
    apply_referral_state(case, payload)  # the same state again changes nothing
    assert case == before


def test_cancelled_by_the_hub_is_confirmed_not_moved_by_the_agency():
    case = referral_case()
    ref = case.referrals[0]
    ref.move(c.ReferralStatus.CANCELLED, c.Actor.REQUESTER, "moved away")
    before = copy.deepcopy(case)
    report = apply_referral_state(case, state(("accepted", "agency"),
                                              ("cancelled", "hub", "moved away")))
    assert case == before and not report  # the agency's late accept is moot


def test_agency_cannot_cancel_a_referral_the_hub_did_not_cancel():
    case = referral_case()
    with pytest.raises(c.CaseRuleError):
        apply_referral_state(case, state(("cancelled", "agency", "no reason")))


def test_illegal_move_is_refused_and_the_case_is_untouched():
    case = referral_case()
    apply_referral_state(case, state(("accepted", "agency"), ("in-progress", "agency"),
                                     ("completed", "agency")))
    before = copy.deepcopy(case)
    # the agency reopens a completed referral: completed -> in-progress is not a legal move
    bad = state(("accepted", "agency"), ("in-progress", "agency"), ("completed", "agency"),
                ("in-progress", "agency"))
    with pytest.raises(c.CaseRuleError):
        apply_referral_state(case, bad)
    assert case == before


def test_skipping_acceptance_is_refused():
    case = referral_case()
    history = state(("completed", "agency"))
    with pytest.raises(c.CaseRuleError) as err:
        apply_referral_state(case, history)
    assert "requested to completed" in str(err.value)
    assert case.referrals[0].status == c.ReferralStatus.REQUESTED


def test_missing_reason_is_refused_by_the_case_rules():
    case = referral_case()
    payload = state(("rejected", "agency", "x"))
    del payload["history"][-1]["reason"], payload["status_reason"]
    with pytest.raises(c.CaseRuleError) as err:
        apply_referral_state(case, payload)
    assert err.value.field == "status_reason"


@pytest.mark.parametrize("where,path", [
    (lambda s: s.update(status="done"), "status"),
    (lambda s: s["history"][1].update(status="done"), "history[1].status"),
    (lambda s: s["history"][1].update(by="nurse"), "history[1].by"),
    (lambda s: s["history"][1].update(at="yesterday"), "history[1].at"),
    (lambda s: s["visits"][0].update(status="missed"), "visits[0].status"),
    (lambda s: s["visits"][0].update(start="2026-03-03T09:00:00"), "visits[0].start"),
    (lambda s: s["visits"][0].update(end="2026-03-03T08:00:00Z"), "visits[0].end"),
    (lambda s: s.update(id="someone-else"), "id"),
    (lambda s: s.update(history=[]), "history"),
    (lambda s: s.update(status="accepted"), "history"),  # history ends in completed
])
def test_unknown_or_malformed_values_are_refused_naming_the_field(where, path):
    case = referral_case()
    payload = example("referral-state.completed.json")
    where(payload)
    before = copy.deepcopy(case)
    with pytest.raises(MappingError) as err:
        apply_referral_state(case, payload, path="referrals[3]")
    assert err.value.path == f"referrals[3].{path}"
    assert case == before


def test_unknown_status_names_the_value_and_the_choices():
    with pytest.raises(MappingError) as err:
        parse_referral_state(dict(example("referral-state.requested.json"), status="closed"))
    assert err.value.path == "status"
    assert "'closed'" in err.value.message and "in-progress" in err.value.message


# --- inbound: visits ----------------------------------------------------------------------------

def test_visits_become_home_visit_encounters_with_the_referral_id():
    case = referral_case()
    report = apply_referral_state(case, example("referral-state.completed.json"))
    ref = case.referrals[0]
    assert ref.status == c.ReferralStatus.COMPLETED
    assert [h.status for h in ref.history] == ["requested", "accepted", "in-progress",
                                               "completed"]
    encs = {e.id: e for e in case.encounters}
    assert len(encs) == 3
    first = encs[visit_encounter_id(RID, "V-1001")]
    assert first.kind == c.EncounterKind.HOME_VISIT and first.referral == RID
    assert first.status == c.EncounterStatus.FINISHED
    assert first.start == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert first.end == datetime(2026, 3, 3, 10, 5, tzinfo=UTC)
    assert first.facility == AGENCY
    assert encs[visit_encounter_id(RID, "V-1002")].status == c.EncounterStatus.CANCELLED
    assert encs[visit_encounter_id(RID, "V-1018")].status == c.EncounterStatus.FINISHED
    notes = {n.author: n.text for n in case.notes}
    assert notes == {
        "Alex Nurse, RN (Sunrise Home Health)":
            "Start of care. PICC site clean, first dose given, no reaction.",
        "Sam Therapist, PT (Sunrise Home Health)":
            "Discharge visit. Ambulates with cane, goals met."}
    assert "visits[0]" in report.paths()
    before = copy.deepcopy(case)
    assert not apply_referral_state(case, example("referral-state.completed.json"))
    assert case == before  # pulled again: nothing duplicated


def test_a_corrected_visit_replaces_the_encounter():
    case = referral_case()
    apply_referral_state(case, example("referral-state.in-progress.json"))
    later = example("referral-state.in-progress.json")
    later["visits"][0]["end"] = "2026-03-03T10:30:00Z"
    later["visits"][0]["summary"] = "Corrected summary."
    apply_referral_state(case, later)
    assert len(case.encounters) == 1 and len(case.notes) == 1
    assert case.encounters[0].end == datetime(2026, 3, 3, 10, 30, tzinfo=UTC)
    assert case.notes[0].text == "Corrected summary."


def test_states_pulled_out_of_order_and_partially_apply_consistently():
    case = referral_case()
    apply_referral_state(case, example("referral-state.in-progress.json"))
    apply_referral_state(case, example("referral-state.in-progress.json"))
    apply_referral_state(case, example("referral-state.on-hold.json"))
    assert case.referrals[0].status == c.ReferralStatus.ON_HOLD
    assert case.referrals[0].status_reason == "Patient readmitted to hospital"
    # a state that disagrees with what was applied (the agency rewrote its history)
    rewritten = state(("received", "agency"), ("accepted", "agency"),
                      ("in-progress", "agency"))
    with pytest.raises(MappingError) as err:
        apply_referral_state(case, rewritten)
    assert err.value.path == "history"


def test_lost_agency_history_is_refused():
    case = referral_case()
    apply_referral_state(case, state(("accepted", "agency"), ("in-progress", "agency")))
    shorter = example("referral-state.requested.json")  # e.g. restored from an old backup
    with pytest.raises(MappingError) as err:
        apply_referral_state(case, shorter)
    assert err.value.path == "history" and "shorter" in err.value.message
