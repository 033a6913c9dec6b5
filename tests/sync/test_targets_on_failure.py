"""What a write points at, read from the ledger at claim only where the write's references
are rewritten for the partner; any other write reads it when a failure needs it (a partner
that refuses a write naming what it lost, or lost the resource itself)."""

from __future__ import annotations

from types import SimpleNamespace

from hub.adapters.errors import PartnerRejected
from hub.adapters.fhir_rest import FhirResponse
from hub.store.sync_tables import sync_links
from hub.sync import outbox
from hub.sync.deliver import deliver

PARTNER = "st-marys"


def plan() -> dict:
    return {"resourceType": "CarePlan", "id": "cp-1", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/p1"}, "goal": [{"reference": "Goal/g1"}]}


def linked(db, local_type: str, local_id: str, remote_id: str, version: str = "1") -> None:
    with db.engine.begin() as conn:
        conn.execute(sync_links.insert().values(local_type=local_type, local_id=local_id,
                                                partner_id=PARTNER, remote_id=remote_id,
                                                remote_version=version))


def claimed_update(db, options: dict | None = None) -> outbox.Delivery:
    linked(db, "CarePlan", "cp-1", "their-cp")
    linked(db, "Goal", "g1", "their-goal")
    with db.sessions() as session:
        outbox.enqueue(session, partner_id=PARTNER, case_id="case-1", resource_type="CarePlan",
                       resource_id="cp-1", operation="update", payload=plan(),
                       options=options)
        session.commit()
    [delivery] = outbox.claim(db, "w-1", limit=4)
    return delivery


def test_a_write_not_rewritten_reads_what_it_points_at_when_asked(db):
    delivery = claimed_update(db)
    assert delivery.link is not None and delivery.link.remote_id == "their-cp"
    assert delivery.targets == {}
    assert delivery.find_targets is not None
    assert delivery.find_targets() == {"Goal/g1": "their-goal"}


def test_a_write_rewritten_for_its_partner_has_them_at_claim(db):
    delivery = claimed_update(db, {"references": "partner"})
    assert delivery.targets == {"Goal/g1": "their-goal"}
    assert delivery.find_targets is None


class LostGoal:
    """A partner that refuses the first update (422: it lost the Goal the plan names),
    answers 404 to a read of that Goal, and takes it created again."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def update(self, resource: dict, *, if_match: str | None = None) -> FhirResponse:
        self.calls.append(("update", resource["id"]))
        if len(self.calls) == 1:
            raise PartnerRejected("Goal/their-goal is not known", partner=PARTNER,
                                  response=SimpleNamespace(status_code=422))
        return FhirResponse(status=200, resource={**resource, "meta": {"versionId": "2"}})

    def read(self, resource_type: str, resource_id: str) -> FhirResponse:
        self.calls.append(("read", f"{resource_type}/{resource_id}"))
        raise PartnerRejected("gone", partner=PARTNER, response=SimpleNamespace(status_code=404))

    def create(self, resource: dict, *, if_none_exist: str | None = None) -> FhirResponse:
        self.calls.append(("create", resource["resourceType"]))
        return FhirResponse(status=201, resource={**resource, "id": "new-goal",
                                                  "meta": {"versionId": "1"}})


def test_a_refused_write_creates_again_what_it_points_at_from_the_ledger(db):
    delivery = claimed_update(db)
    delivery.load = lambda rtype, rid: {"resourceType": rtype, "id": rid,
                                        "lifecycleStatus": "active",
                                        "description": {"text": "walk"},
                                        "subject": {"reference": "Patient/p1"}}
    partner = LostGoal()
    adapters = SimpleNamespace(get=lambda partner_id: partner, partners={})
    outcome = deliver(delivery, adapters)
    assert outcome.ok, outcome.error
    assert partner.calls == [("update", "their-cp"), ("read", "Goal/their-goal"),
                             ("create", "Goal"), ("update", "their-cp")]
    assert [(r["type"], r["id"], r["remote_id"]) for r in outcome.relinked] == \
        [("Goal", "g1", "new-goal")]
    assert delivery.targets == {"Goal/g1": "new-goal"}
