"""The FHIR REST adapter and the worker against an independent FHIR server: the Medplum
in-memory peer of ../shared/tools/fhir-check (validates every write, real ETags,
conditional create, If-Match)."""

from __future__ import annotations

import time

import pytest
from peer_fhir import running_peer

from hub.adapters.errors import PartnerConflict, PartnerRejected
from hub.adapters.fhir_rest import FhirRestClient
from hub.sync import ledger, outbox
from hub.sync.partners import Partner, Timeouts
from hub.sync.registry import DEFAULT_IDENTIFIER_SYSTEM, Adapters
from hub.sync.worker import Worker

from .conftest import FAST

pytestmark = pytest.mark.integration



@pytest.fixture(scope="module")
def peer_base():
    with running_peer() as base:
        yield base


@pytest.fixture
def peer(peer_base):
    client = FhirRestClient("peer", peer_base, timeout=(2, 10))
    yield client
    client.close()


def careplan(**extra) -> dict:
    return {"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": "Patient/p1"}, **extra}


def test_metadata(peer):
    cap = peer.capabilities()
    assert (cap["resourceType"], cap["fhirVersion"]) == ("CapabilityStatement", "4.0.1")


def test_conditional_create_read_update_conflict(peer):
    ident = {"system": "urn:test", "value": f"cp-{time.monotonic_ns()}"}
    cond = f"identifier={ident['system']}|{ident['value']}"
    first = peer.create(careplan(identifier=[ident]), if_none_exist=cond)
    again = peer.create(careplan(identifier=[ident]), if_none_exist=cond)
    assert (first.status, again.status) == (201, 200)
    assert first.resource_id == again.resource_id and first.version_id
    read = peer.read("CarePlan", first.resource_id)
    assert read.version_id == first.version_id
    updated = peer.update(dict(read.resource, title="v2"), if_match=first.version_id)
    assert updated.version_id != first.version_id
    with pytest.raises(PartnerConflict) as caught:
        peer.update(dict(read.resource, title="stale"), if_match=first.version_id)
    assert caught.value.status == 412 and not caught.value.retryable
    found = list(peer.search("CarePlan", {"identifier": f"{ident['system']}|{ident['value']}"}))
    assert [r["title"] for r in found] == ["v2"]


def test_invalid_resource_is_rejected_with_an_operation_outcome(peer):
    with pytest.raises(PartnerRejected) as caught:
        peer.create({"resourceType": "CarePlan", "status": "bogus-status"})
    assert caught.value.status == 400
    assert caught.value.outcome["resourceType"] == "OperationOutcome"
    assert caught.value.describe()


def test_worker_delivers_create_update_and_put(db, peer_base, peer):
    partner = Partner(id="peer", kind="hospital", base_url=peer_base,
                      timeouts=Timeouts(connect=2, read=10))
    registry = Adapters({"peer": partner})
    local = f"cp-{time.monotonic_ns()}"
    with db.sessions() as session:
        outbox.enqueue(session, partner_id="peer", case_id="c1", resource_type="CarePlan",
                       resource_id=local, operation="create", payload=careplan(id=local))
        outbox.enqueue(session, partner_id="peer", case_id="c1", resource_type="CarePlan",
                       resource_id=local, operation="update",
                       payload=careplan(id=local, title="revised"))
        outbox.enqueue(session, partner_id="peer", case_id="c1", resource_type="CareTeam",
                       resource_id=f"team-{local}", operation="put",
                       payload={"resourceType": "CareTeam", "status": "active"})
        session.commit()
    worker = Worker(db, registry, "peer-worker", policy=FAST, concurrency=1)
    try:
        deadline = time.monotonic() + 20
        while True:
            worker.run_once()
            with db.sessions() as session:
                rows = outbox.list_deliveries(session)
            if all(r.status in ("done", "dead") for r in rows):
                break
            assert time.monotonic() < deadline
    finally:
        worker.close()
        registry.close()
    assert [r.status for r in rows] == ["done", "done", "done"], [r.last_error for r in rows]
    [plan] = peer.search("CarePlan", {"identifier": f"{DEFAULT_IDENTIFIER_SYSTEM}|CarePlan/{local}"})
    assert plan["title"] == "revised"
    with db.engine.connect() as conn:
        link = ledger.get_link(conn, "CarePlan", local, "peer")
    assert (link.remote_id, link.remote_version) == (plan["id"], plan["meta"]["versionId"])
    team = peer.read("CareTeam", f"team-{local}").resource
    assert team["identifier"] == [{"system": DEFAULT_IDENTIFIER_SYSTEM,
                                   "value": f"CareTeam/team-{local}"}]
