"""Polling a pended prior authorization against a real FHIR server: the Medplum peer
(tests/peer_fhir.py) stands in for the insurer's FHIR server.

The peer has no ``Claim/$submit``, so the insurer's synchronous "pended" (X12 A4) answer is
applied the way the submit handler applies it after a delivery. The test then acts as the
insurer: it writes its ClaimResponses into the peer (the peer validates every write as R4)
and the ``poll`` rows read them back with ``GET [peer]/ClaimResponse?request=Claim/{id}``
through the insurer partner's FhirRestClient.
"""

from __future__ import annotations

from datetime import date

import pytest
from peer_fhir import running_peer

from hub import cases as c
from hub.adapters.fhir_rest import FhirRestClient
from hub.flows import insurer as flows
from hub.flows import insurer_answers as answers
from hub.mappings.identity import resource_id
from hub.store.uow import UnitOfWork
from hub.sync.deliver import Outcome
from hub.sync.outbox import Delivery
from hub.sync.registry import Adapters

from .conftest import (
    FUNDING,
    HCPCS,
    ORG,
    PARTNER,
    decisions,
    insurer_partner,
    load_case,
    outbox_rows,
    poll_pended_now,
    stored,
)
from .insurer_server import Decision, claim_response, response_bundle

pytestmark = pytest.mark.integration

D = c.DecisionStatus
PENDED_AT = "2026-03-01T10:00:00Z"
FINAL_AT = "2026-03-02T09:30:00Z"
PERIOD = ("2026-03-02", "2026-04-01")


@pytest.fixture(scope="module")
def peer() -> str:
    """The insurer's FHIR server: one Medplum peer for the module, always stopped."""
    with running_peer() as base:
        yield base


@pytest.fixture
def partners(app, peer):
    """Overrides conftest's: the example-health insurer partner's base_url is the peer."""
    registry = Adapters({PARTNER: insurer_partner(peer)})
    app.extensions["hub.runtime"].use_adapters(registry)
    yield registry
    registry.close()


class Insurer:
    """The test acting as the insurer: writes its ClaimResponses into its FHIR server."""

    def __init__(self, base: str) -> None:
        self.fhir = FhirRestClient("insurer-side", base)
        self.created: list[str] = []

    def answer(self, claim: dict, decided: dict[str, Decision], created: str, *,
               about: str | None = None) -> dict:
        """A PAS ClaimResponse deciding ``claim``'s items, created in the peer (its id);
        ``about`` points ``request`` at another Claim id."""
        body = claim_response(claim, decided, rid="unused", created=created)
        del body["id"]
        if about is not None:
            body["request"] = {"reference": f"Claim/{about}"}
        resp = self.fhir.create(body)
        assert resp.status == 201, resp.resource
        self.created.append(resp.resource_id)
        return resp.resource

    def close(self) -> None:
        for rid in self.created:  # the peer lives for the module: leave it empty
            self.fhir.delete("ClaimResponse", rid)
        self.fhir.close()


@pytest.fixture
def insurer(peer):
    ins = Insurer(peer)
    try:
        yield ins
    finally:
        ins.close()


def _submit_pended(runtime, db, partners, case, code: str) -> tuple[flows.Submitted, dict]:
    """A PAS request for ``code`` whose synchronous $submit answer was "pended" (A4);
    (the submission, the Claim the insurer received)."""
    with UnitOfWork(db, partners=partners.partners) as uow:
        sub = flows.request_prior_authorization(uow, case["id"], FUNDING,
                                                [flows.ItemInput(c.Code(HCPCS, code))])
    [row] = [r for r in outbox_rows(db, operation="submit") if r["id"] == sub.delivery_id]
    delivery = Delivery(**row)
    claim = delivery.payload["entry"][0]["resource"]
    pended = response_bundle(claim_response(claim, {code: Decision("A4")}, rid=f"cr-{code}",
                                            created=PENDED_AT), "https://insurer.example/fhir")
    # what an executor does after the delivery: the submit handler applies the answer
    assert runtime.handlers.handle(db, delivery, Outcome(True, pended["id"], None, 200, pended))
    assert decisions(db, case["id"])[code].status == D.AUTH_PENDED
    return sub, claim


def test_polling_the_insurer_applies_its_final_decision_once(runtime, db, partners, case,
                                                             insurer):
    sub, claim = _submit_pended(runtime, db, partners, case, "S9500")
    assert answers.pended_requests(db) == [(case["id"], sub.resource_id, ORG)]
    # the insurer's server holds its pended answer and, later, the final one
    insurer.answer(claim, {"S9500": Decision("A4")}, PENDED_AT)
    final = insurer.answer(claim, {"S9500": Decision("A1", "AUTH-PEER-1", PERIOD)}, FINAL_AT)
    assert final["request"]["reference"] == f"Claim/{sub.resource_id}"
    before = load_case(db, case["id"]).version

    polled = poll_pended_now(runtime)

    assert [(p.result, p.state, p.request_id) for p in polled] == \
        [("applied", "approved", sub.id)]
    got = decisions(db, case["id"])["S9500"]
    assert got.status == D.AUTH_APPROVED
    assert got.authorization_number == "AUTH-PEER-1"
    assert got.period == c.Period(date.fromisoformat(PERIOD[0]), date.fromisoformat(PERIOD[1]))
    version = load_case(db, case["id"]).version
    assert version == before + 1
    copy = stored(db, "ClaimResponse", resource_id(case["id"], "pas-claim-response", sub.id))
    assert copy["request"]["reference"] == f"Claim/{sub.resource_id}"
    assert copy["created"] == FINAL_AT and answers.pas_state(copy) == "approved"
    assert answers.pended_requests(db) == []

    # polling again changes nothing
    rows = len(outbox_rows(db))
    assert poll_pended_now(runtime) == []
    assert load_case(db, case["id"]).version == version
    assert len(outbox_rows(db)) == rows
    # and the same answer read again from the peer is a duplicate, not a new case version
    [again] = partners.get(PARTNER).search("ClaimResponse", {"_id": final["id"]})
    assert answers.apply_pas_response(db, again, claim_id=sub.resource_id, insurer=ORG,
                                      partners=partners.partners).result == "duplicate"
    assert load_case(db, case["id"]).version == version


def test_an_answer_about_another_claim_is_not_applied(runtime, db, partners, case, insurer):
    a, claim_a = _submit_pended(runtime, db, partners, case, "S9500")
    b, claim_b = _submit_pended(runtime, db, partners, case, "G0299")
    # the insurer decided B only; the peer also holds a newer answer about a Claim that is
    # not the hub's, deciding A's service
    insurer.answer(claim_b, {"G0299": Decision("A1", "AUTH-B", PERIOD)}, FINAL_AT)
    insurer.answer(claim_a, {"S9500": Decision("A1", "AUTH-NOT-OURS")}, "2026-03-03T08:00:00Z",
                   about="someone-elses-claim")
    before = load_case(db, case["id"]).version

    polled = poll_pended_now(runtime)

    assert [(p.result, p.request_id) for p in polled] == [("applied", b.id)]
    got = decisions(db, case["id"])
    assert (got["G0299"].status, got["G0299"].authorization_number) == \
        (D.AUTH_APPROVED, "AUTH-B")
    assert got["S9500"].status == D.AUTH_PENDED
    assert got["S9500"].authorization_number != "AUTH-NOT-OURS"
    copy_a = stored(db, "ClaimResponse", resource_id(case["id"], "pas-claim-response", a.id))
    assert copy_a["created"] == PENDED_AT and answers.pas_state(copy_a) == "pended"
    version = load_case(db, case["id"]).version
    assert version == before + 1

    # A stays pended and polling it again finds nothing new
    assert answers.pended_requests(db) == [(case["id"], a.resource_id, ORG)]
    assert poll_pended_now(runtime) == []
    assert load_case(db, case["id"]).version == version
