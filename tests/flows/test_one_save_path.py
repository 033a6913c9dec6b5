"""One save path (issue 8 item 2): whatever changes a case (the case API, a partner's FHIR
write, a pulled change, an insurer's answer), its new version, its new FHIR resource
versions and its outbox rows are written in ONE transaction.

Each flow runs twice. The first time a failure is injected at the commit that carries
the case's new version: inside that transaction, just before it commits, the test reads
what it holds (case version, resource versions, outbox rows), then raises; afterwards
none of it is stored. The second time it commits, and what is stored is exactly what the
failed transaction held: the case, its projection and its outbox rows came together.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from case_data import physician, river
from sqlalchemy import event, func, select

from hub import cases as c
from hub.fhirstore.tables import resources
from hub.flows import insurer_answers
from hub.mappings.identity import resource_id
from hub.store.case_tables import cases
from hub.store.sync_tables import outbox
from hub.sync.deliver import Outcome
from hub.sync.outbox import Delivery
from hub.sync.partners import Partner
from hub.sync.registry import Adapters

from .conftest import FUNDING, ORG, item, outbox_rows
from .insurer_server import Decision, claim_response, response_bundle

HOSPITAL = "Organization/lakeside"
AGENCY = "Organization/sunrise"
MRN = "MRN-RIVER-0001"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
EVERYTHING = ("EpisodeOfCare", "CarePlan", "CareTeam", "Goal", "Condition", "Coverage",
              "Encounter", "ServiceRequest", "Task", "Patient", "Organization")
#: Written by the server for each request, under fresh ids (compared by count elsewhere).
PER_REQUEST = ("AuditEvent", "Provenance")


class Injected(Exception):
    """The failure injected at commit."""


@dataclass(frozen=True)
class State:
    case_version: int
    versions: dict  # (type, id) -> newest version id
    queued: list  # outbox rows (partner, type, id, operation, resource version)


def _state(conn, case_id: str) -> State:
    version = conn.execute(select(cases.c.version).where(cases.c.id == case_id)).scalar_one()
    rows = conn.execute(select(resources.c.res_type, resources.c.res_id,
                               func.max(resources.c.version_id))
                        .group_by(resources.c.res_type, resources.c.res_id)).all()
    queued = conn.execute(select(outbox.c.partner_id, outbox.c.resource_type,
                                 outbox.c.resource_id, outbox.c.operation,
                                 outbox.c.resource_version)
                          .where(outbox.c.case_id == case_id)).all()
    return State(version, {(t, i): v for t, i, v in rows if t not in PER_REQUEST},
                 sorted(tuple(r) for r in queued))


class CommitTrap:
    """Fails the first commit of a session that holds a new version of the case, after
    reading (in that very transaction) what the commit would have stored."""

    def __init__(self, db, case_id: str) -> None:
        self.db, self.case_id = db, case_id
        self.baseline: int | None = None
        self.held: State | None = None
        event.listen(db.sessions, "before_commit", self)

    def arm(self) -> None:
        with self.db.engine.connect() as conn:
            self.baseline = _state(conn, self.case_id).case_version
        self.held = None

    def __call__(self, session) -> None:
        if self.baseline is None:
            return
        state = _state(session, self.case_id)
        if state.case_version == self.baseline:
            return  # another transaction (a token, a pull's bookkeeping)
        self.held, self.baseline = state, None
        raise Injected("failure injected after the case was saved")

    def close(self) -> None:
        event.remove(self.db.sessions, "before_commit", self)


def _stored(db, case_id: str) -> State:
    with db.engine.connect() as conn:
        return _state(conn, case_id)


def _one_transaction(db, case_id: str, run, *, queues: bool = True) -> State:
    """Run the flow with the injected failure, check nothing stayed, run it again, check it
    stored what the failed transaction held. The new state."""
    before = _stored(db, case_id)
    trap = CommitTrap(db, case_id)
    try:
        trap.arm()
        with pytest.raises(Injected):
            run()
        held = trap.held
        assert held is not None, "the flow never committed a new case version"
        assert _stored(db, case_id) == before, "part of the write outlived the failure"
    finally:
        trap.close()
    run()
    after = _stored(db, case_id)
    assert after.case_version == before.case_version + 1
    assert after == held  # case, resource versions and outbox rows came in one commit
    changed = {k for k, v in after.versions.items() if before.versions.get(k) != v}
    assert changed, "the case change projected no new FHIR version"
    if queues:
        assert len(after.queued) > len(before.queued), "nothing was queued for partners"
    return after


def _partners() -> Adapters:
    return Adapters({
        "lakeside": Partner(id="lakeside", kind="hospital", base_url="http://127.0.0.1:9/fhir",
                            organization=HOSPITAL, receives=EVERYTHING),
        "sunrise": Partner(id="sunrise", kind="agency", base_url="http://127.0.0.1:9/fhir",
                           organization=AGENCY, receives=("ServiceRequest", "Task")),
        "example-health-pas": Partner(id="example-health-pas", kind="insurer",
                                      base_url="http://127.0.0.1:9/fhir", organization=ORG),
    })


@pytest.fixture
def world(app, api):
    registry = _partners()
    app.extensions["hub.runtime"].use_adapters(registry)
    body = river()
    for member in body["care_team"]:
        if member.get("on_behalf_of"):
            member["on_behalf_of"]["reference"] = HOSPITAL
    body["referrals"] = [{
        "id": "pt-home", "status": "requested", "reason": "physiotherapy at home",
        "service": {"system": "http://snomed.info/sct", "code": "91251008"},
        "agency": {"name": "Sunrise Home Health", "reference": AGENCY}}]
    resp = api.post("/api/cases", body)
    assert resp.status_code == 201, resp.get_json()
    yield app.extensions["hub.db"], registry, resp.get_json()
    registry.close()


def _propagate(resp):
    """A Flask test client answers 500 for an exception the app caught; the trap's
    failure must have been the reason."""
    assert resp.status_code == 500, resp.get_json()
    raise Injected("answered 500")


def test_case_api_write(world, api):
    db, _, case = world

    def approve():
        version = _stored(db, case["id"]).case_version
        resp = api.post(f"/api/cases/{case['id']}/plan/approval",
                        {"approved_by": physician()}, version=version)
        if resp.status_code != 200:
            _propagate(resp)

    after = _one_transaction(db, case["id"], approve)
    assert ("lakeside", "CarePlan", resource_id(case["id"], "careplan"), "update",
            str(after.versions["CarePlan", resource_id(case["id"], "careplan")])) \
        in after.queued


def test_partner_fhir_write(world, client, auth_headers):
    db, _, case = world
    agency = auth_headers("system/Task.rus system/ServiceRequest.rs", organization=AGENCY)
    path = f"/fhir/Task/{resource_id(case['id'], 'task', 'pt-home')}"
    statuses = iter(["accepted", "accepted"])

    def accept():
        task = client.get(path, headers=agency).get_json()
        task["status"] = next(statuses)
        resp = client.put(path, json=task, headers={
            **agency, "If-Match": f'W/"{task["meta"]["versionId"]}"',
            "Content-Type": "application/fhir+json"})
        if resp.status_code != 200:
            _propagate(resp)

    after = _one_transaction(db, case["id"], accept, queues=False)
    task = after.versions["Task", resource_id(case["id"], "task", "pt-home")]
    assert task == 2  # the partner's version; the case was updated from it
    with db.engine.connect() as conn:
        stored = conn.execute(select(cases.c.document).where(cases.c.id == case["id"])).scalar()
    assert stored["referrals"][0]["status"] == "accepted"


def test_pulled_change(app, world):
    db, _registry, case = world
    handlers = app.extensions["hub.runtime"].handlers
    encounter = {"resourceType": "Encounter", "id": "enc-1", "meta": {"versionId": "1"},
                 "status": "in-progress",
                 "class": {"system": V3, "code": "IMP", "display": "inpatient encounter"},
                 "subject": {"identifier": {"system": "urn:oid:2.16.840.1.113883.19.5.1",
                                            "value": MRN}},
                 "serviceProvider": {"reference": HOSPITAL},
                 "period": {"start": "2026-11-20T08:00:00Z"}}
    delivery = Delivery(id=0, partner_id="lakeside", case_id="pull/Encounter",
                        resource_type="Encounter", resource_id="_changes", operation="pull")

    def pull():
        outcome = Outcome(True, http_status=200, response={"resources": [encounter]})
        if not handlers.handle(db, delivery, outcome):  # the handler failed (logged)
            raise Injected("the pull handler failed")

    _one_transaction(db, case["id"], pull)
    with db.engine.connect() as conn:
        stored = conn.execute(select(cases.c.document).where(cases.c.id == case["id"])).scalar()
    assert [e["status"] for e in stored["encounters"]][-1] == "in-progress"


def test_insurer_answer(world, api):
    db, registry, case = world
    version = _stored(db, case["id"]).case_version
    resp = api.post(f"/api/cases/{case['id']}/prior-authorizations",
                    {"funding_id": FUNDING, "items": [item("S9500")]}, version=version)
    assert resp.status_code == 202, resp.get_json()
    [row] = outbox_rows(db, operation="submit")
    claim = row["payload"]["entry"][0]["resource"]
    body = response_bundle(claim_response(claim, {"S9500": Decision("A1", "AUTH-1")},
                                          rid="cr-1"), "https://insurer.example/fhir")

    def answer():
        applied = insurer_answers.apply_pas_response(db, body, claim_id=row["resource_id"],
                                                     partners=registry.partners)
        assert applied.result == "applied"

    after = _one_transaction(db, case["id"], answer, queues=False)
    assert "ClaimResponse" in {rtype for rtype, _ in after.versions}  # the hub's copy
    with db.engine.connect() as conn:
        stored = conn.execute(select(cases.c.document).where(cases.c.id == case["id"])).scalar()
    funding = next(f for f in stored["funding"] if f["id"] == FUNDING)
    assert [d["status"] for d in funding["decisions"]
            if d["service"]["code"] == "S9500"] == [c.DecisionStatus.AUTH_APPROVED.value]
