"""The ``submit`` handlers: the insurer's synchronous answer applied to the case, per item,
idempotently, without losing a concurrent case change."""

from __future__ import annotations

from datetime import date

import pytest

from hub import cases as c
from hub import services
from hub.flows import insurer as flows
from hub.flows import insurer_answers as answers
from hub.mappings.identity import resource_id
from hub.store.uow import UnitOfWork
from hub.sync.deliver import Outcome
from hub.sync.outbox import Delivery

from .conftest import FUNDING, HCPCS, decisions, load_case, outbox_rows, stored
from .insurer_server import Decision, claim_response, response_bundle

D = c.DecisionStatus
BASE = "https://insurer.example/fhir"


def _submit(db, partners, case, *codes):
    with UnitOfWork(db, partners=partners.partners) as uow:
        return flows.request_prior_authorization(
            uow, case["id"], FUNDING, [flows.ItemInput(c.Code(HCPCS, x)) for x in codes])


def _delivery(db, sub) -> Delivery:
    [row] = [r for r in outbox_rows(db, operation="submit") if r["id"] == sub.delivery_id]
    return Delivery(**row)


def _answer(delivery: Delivery, decided: dict, rid="cr-1", created=None) -> dict:
    claim = delivery.payload["entry"][0]["resource"]
    return response_bundle(claim_response(claim, decided, rid=rid, created=created), BASE)


def _deliver(runtime, delivery, body):
    """What an executor does after a successful delivery (the runtime's handlers)."""
    assert runtime.handlers.handle(runtime.db, delivery,
                                   Outcome(True, body.get("id"), None, 200, body))


PERIOD = ("2026-03-01", "2026-03-31")


@pytest.mark.parametrize("decided,expected,state", [
    ({"S9500": Decision("A1", "AUTH-1", PERIOD), "G0299": Decision("A1", "AUTH-2", PERIOD)},
     {"S9500": D.AUTH_APPROVED, "G0299": D.AUTH_APPROVED}, "approved"),
    ({"S9500": Decision("A1", "AUTH-1", PERIOD), "G0299": Decision("A3", reason="not needed")},
     {"S9500": D.AUTH_APPROVED, "G0299": D.AUTH_DENIED}, "partially-approved"),
    ({"S9500": Decision("A3"), "G0299": Decision("A3")},
     {"S9500": D.AUTH_DENIED, "G0299": D.AUTH_DENIED}, "denied"),
    ({"S9500": Decision("A4"), "G0299": Decision("A1", "AUTH-2")},
     {"S9500": D.AUTH_PENDED, "G0299": D.AUTH_APPROVED}, "pended"),
    ({"S9500": Decision("A6", "AUTH-1", PERIOD, quantity=8),
      "G0299": Decision("A6", "AUTH-2", quantity=4)},
     {"S9500": D.AUTH_MODIFIED, "G0299": D.AUTH_MODIFIED}, "modified"),
    ({"S9500": Decision("A2", "AUTH-1", quantity=5)},
     {"S9500": D.AUTH_PARTIAL, "G0299": D.AUTH_APPROVED}, "partially-approved"),
])
def test_synchronous_answer_sets_each_item(runtime, db, partners, case, decided, expected, state):
    sub = _submit(db, partners, case, "S9500", "G0299")
    delivery = _delivery(db, sub)
    body = _answer(delivery, decided)
    _deliver(runtime, delivery, body)
    got = decisions(db, case["id"])
    assert {k: got[k].status for k in expected} == expected
    for code, d in decided.items():
        if d.number:
            assert got[code].authorization_number == d.number
        if d.period:
            assert got[code].period == c.Period(date.fromisoformat(d.period[0]),
                                                date.fromisoformat(d.period[1]))
        if d.quantity is not None:
            assert got[code].quantity == d.quantity
    # the answer is kept under the hub's id for the request, linked to the Claim
    copy = stored(db, "ClaimResponse", resource_id(case["id"], "pas-claim-response", sub.id))
    assert copy["request"]["reference"] == f"Claim/{sub.resource_id}"
    assert answers.pas_state(copy) == state
    assert load_case(db, case["id"]).version == sub.case.version + 1


def test_reapplying_the_same_answer_changes_nothing(runtime, db, partners, case):
    sub = _submit(db, partners, case, "S9500")
    delivery = _delivery(db, sub)
    body = _answer(delivery, {"S9500": Decision("A1", "AUTH-1")})
    _deliver(runtime, delivery, body)
    version = load_case(db, case["id"]).version
    rows = len(outbox_rows(db))
    _deliver(runtime, delivery, body)
    again = answers.apply_pas_response(db, body, claim_id=sub.resource_id, partners=partners.partners)
    assert again.result == "duplicate"
    assert load_case(db, case["id"]).version == version
    assert len(outbox_rows(db)) == rows


def test_an_older_answer_never_overwrites_a_newer_decision(runtime, db, partners, case):
    sub = _submit(db, partners, case, "S9500")
    delivery = _delivery(db, sub)
    pended = _answer(delivery, {"S9500": Decision("A4")}, created="2026-03-01T10:00:00Z")
    final = _answer(delivery, {"S9500": Decision("A1", "AUTH-9")},
                    created="2026-03-01T11:00:00Z")
    assert answers.apply_pas_response(db, final, claim_id=sub.resource_id,
                                      partners=partners.partners).result == "applied"
    _deliver(runtime, delivery, pended)  # the synchronous answer, handled late
    got = decisions(db, case["id"])["S9500"]
    assert got.status == D.AUTH_APPROVED and got.authorization_number == "AUTH-9"


def test_pended_then_final_answer(runtime, db, partners, case):
    sub = _submit(db, partners, case, "S9500", "G0299")
    delivery = _delivery(db, sub)
    _deliver(runtime, delivery, _answer(delivery, {"S9500": Decision("A4")},
                                   created="2026-03-01T10:00:00Z"))
    assert decisions(db, case["id"])["S9500"].status == D.AUTH_PENDED
    final = _answer(delivery, {"S9500": Decision("A3", reason="not medically necessary")},
                    created="2026-03-02T10:00:00Z")
    # found through ClaimResponse.request
    applied = answers.apply_pas_response(db, final, partners=partners.partners)
    assert (applied.result, applied.state) == ("applied", "partially-approved")
    got = decisions(db, case["id"])
    assert got["S9500"].status == D.AUTH_DENIED
    assert got["S9500"].note == "not medically necessary"


def test_a_concurrent_case_change_is_not_lost(runtime, db, partners, case, monkeypatch):
    sub = _submit(db, partners, case, "S9500")
    delivery = _delivery(db, sub)
    real = answers.pas.apply_claim_response
    calls = []

    def racing(case_, data, request, report=None):
        calls.append(case_.version)
        if len(calls) == 1:  # someone else writes the case meanwhile
            with UnitOfWork(db, partners=partners.partners) as other:
                services.add_note(other, case_.id, None, c.Note(text="called the patient"))
        return real(case_, data, request, report=report)

    monkeypatch.setattr(answers.pas, "apply_claim_response", racing)
    _deliver(runtime, delivery, _answer(delivery, {"S9500": Decision("A1", "AUTH-1")}))
    assert len(calls) == 2 and calls[1] == calls[0] + 1
    after = load_case(db, case["id"])
    assert after.notes[-1].text == "called the patient"
    assert decisions(db, case["id"])["S9500"].status == D.AUTH_APPROVED


def test_eligibility_answer_applied_once(runtime, db, partners, case):
    with UnitOfWork(db, partners=partners.partners) as uow:
        sub = flows.request_eligibility(uow, case["id"], FUNDING, ["auth-requirements"],
                                        [c.Code(HCPCS, "S9500"), c.Code(HCPCS, "G0299")])
    delivery = _delivery(db, sub)
    req = delivery.payload
    body = {"resourceType": "CoverageEligibilityResponse", "id": "er-1", "status": "active",
            "purpose": req["purpose"], "patient": req["patient"],
            "created": "2026-03-01T10:00:00Z",
            "request": {"reference": f"CoverageEligibilityRequest/{req['id']}"},
            "outcome": "complete", "insurer": {"reference": req["insurer"]["reference"]},
            "insurance": [{"coverage": {"reference": req["insurance"][0]["coverage"]["reference"]},
                           "inforce": True, "item": [
                               {"productOrService": req["item"][0]["productOrService"],
                                "authorizationRequired": True},
                               {"productOrService": req["item"][1]["productOrService"]}]}]}
    _deliver(runtime, delivery, body)
    version = load_case(db, case["id"]).version
    _deliver(runtime, delivery, body)
    assert load_case(db, case["id"]).version == version
    got = decisions(db, case["id"])
    assert (got["S9500"].status, got["G0299"].status) == (D.AUTH_NEEDED, D.COVERED)


def test_answer_about_another_claim_is_refused(db, partners, case):
    a = _submit(db, partners, case, "S9500")
    b = _submit(db, partners, case, "G0299")
    body = _answer(_delivery(db, b), {"G0299": Decision("A1", "X")})
    with pytest.raises(answers.MappingError):
        answers.apply_pas_response(db, body, claim_id=a.resource_id, partners=partners.partners)
    assert decisions(db, case["id"])["S9500"].status == D.AUTH_SUBMITTED


def test_answer_without_claimresponse_keeps_submitted(runtime, db, partners, case):
    sub = _submit(db, partners, case, "S9500")
    delivery = _delivery(db, sub)
    _deliver(runtime, delivery, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "information", "code": "informational"}]})
    assert decisions(db, case["id"])["S9500"].status == D.AUTH_SUBMITTED


def test_a_pended_answer_queues_one_poll_of_its_claim_at_the_interval(runtime, db, partners,
                                                                      case):
    from datetime import timedelta

    from hub.flows.insurer_polling import poll_key

    sub = _submit(db, partners, case, "S9500")
    delivery = _delivery(db, sub)
    pended = _answer(delivery, {"S9500": Decision("A4")}, created="2026-03-01T10:00:00Z")
    _deliver(runtime, delivery, pended)
    _deliver(runtime, delivery, pended)  # at-least-once: the same answer again
    [poll] = outbox_rows(db, operation="poll")
    assert (poll["partner_id"], poll["resource_type"], poll["resource_id"], poll["case_id"]) \
        == (sub.partner_id, "Claim", sub.resource_id, poll_key(sub.resource_id))
    assert poll["status"] == "pending"
    assert poll["options"]["params"] == {"request": f"Claim/{sub.resource_id}"}
    waited = poll["next_attempt_at"] - poll["created_at"]
    assert waited == timedelta(seconds=runtime.settings.pended_poll_seconds)
    # a final answer: no further poll is queued for it
    final = _answer(delivery, {"S9500": Decision("A1", "AUTH-1")}, created="2026-03-02T10:00:00Z")
    _deliver(runtime, delivery, final)
    assert len(outbox_rows(db, operation="poll")) == 1


def test_answer_posted_to_the_fhir_api_is_applied_once_and_an_older_one_ignored(
        db, partners, case, client, auth_headers):
    from .conftest import ORG

    sub = _submit(db, partners, case, "S9500")
    delivery = _delivery(db, sub)
    claim = delivery.payload["entry"][0]["resource"]
    insurer = {**auth_headers("system/ClaimResponse.cr system/Claim.rs", organization=ORG),
               "Content-Type": "application/fhir+json"}

    def post(decided, rid, created):
        body = claim_response(claim, decided, rid=rid, created=created)
        body.pop("id")
        body["request"] = {"reference": f"Claim/{claim['id']}"}
        return client.post("/fhir/ClaimResponse", json=body, headers=insurer)

    approved = post({"S9500": Decision("A1", "AUTH-9")}, "cr-new", "2026-03-02T10:00:00Z")
    assert approved.status_code == 201, approved.get_json()
    got = decisions(db, case["id"])["S9500"]
    assert (got.status, got.authorization_number) == (D.AUTH_APPROVED, "AUTH-9")
    version = load_case(db, case["id"]).version

    late = post({"S9500": Decision("A4")}, "cr-old", "2026-03-01T10:00:00Z")
    assert late.status_code == 201  # stored as the insurer sent it ...
    assert decisions(db, case["id"])["S9500"].status == D.AUTH_APPROVED  # ... but not applied
    assert load_case(db, case["id"]).version == version
