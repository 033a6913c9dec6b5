"""Issue 9.1 for data stored before the id key: ``hub fhir rekey`` moves the resources a
case produced under public ids (UUIDv5 of the case id, which anyone can compute) to the
hub's keyed ids, and nothing of the old ids is left to find.

The database with old ids is made the way the hub made it then: the case is opened
through the case API while no id key is installed (the mapping's public UUIDv5); the sync
ledger has linked its CarePlan at a partner and a delivery is still pending.
"""

from __future__ import annotations

import json
import uuid

import pytest
from case_data import minimal
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from hub.cli import main
from hub.fhirstore.tables import resources, search_index
from hub.mappings import identity
from hub.store.sync_tables import outbox, sync_links
from hub.sync import outbox as outbox_api

KINDS = {"EpisodeOfCare": "case", "Patient": "patient", "CarePlan": "careplan"}


def _public(case_id: str, kind: str) -> str:
    return str(uuid.uuid5(identity.HUB_NAMESPACE, f"{case_id}/{kind}"))


@pytest.fixture
def hdr(auth_headers):
    return auth_headers("system/*.cruds system/Case.cruds")


@pytest.fixture
def old_case(app, client, hdr):
    """A case stored as before the id key, its CarePlan linked at a partner and a
    delivery of it pending."""
    saved = identity._id_key
    identity.use_key(None)
    try:
        resp = client.post("/api/cases", json=minimal(case_manager={"name": "Pat Doe"}),
                           headers=hdr)
    finally:
        identity.use_key(saved)
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    plan_id = _public(case["id"], "careplan")
    db = app.extensions["hub.db"]
    with db.engine.begin() as conn:
        plan = json.loads(conn.execute(select(resources.c.content).where(
            resources.c.res_type == "CarePlan", resources.c.res_id == plan_id)).scalar_one())
        conn.execute(insert(sync_links).values(local_type="CarePlan", local_id=plan_id,
                                               partner_id="st-marys", remote_id="remote-cp-9",
                                               remote_version="4"))
    with db.sessions() as session:
        outbox_api.enqueue(session, partner_id="st-marys", case_id=case["id"],
                           resource_type="CarePlan", resource_id=plan_id, operation="update",
                           payload=plan)
        session.commit()
    return case


def _rekey(database_url: str) -> str:
    result = CliRunner().invoke(main, ["--database-url", database_url, "fhir", "rekey"])
    assert result.exit_code == 0, result.output
    return result.output


def _old_ids_left(app, case_id: str) -> int:
    olds = [_public(case_id, kind) for kind in ("case", "patient", "careplan", "careteam")]
    with app.extensions["hub.db"].engine.connect() as conn:
        rows = conn.execute(select(resources.c.res_id, resources.c.content)).all()
        index = conn.execute(select(func.count()).select_from(search_index).where(
            search_index.c.res_id.in_(olds) | search_index.c.ref_id.in_(olds))).scalar_one()
        queued = conn.execute(select(outbox.c.resource_id, outbox.c.payload)).all()
    found = sum(1 for rid, content in rows
                if rid in olds or any(o in (content or "") for o in olds))
    return found + index + sum(1 for rid, payload in queued
                               if rid in olds or any(o in json.dumps(payload) for o in olds))


def test_rekey_moves_resources_off_the_public_ids(app, client, hdr, fhir, old_case,
                                                  database_url):
    cid = old_case["id"]
    for rtype, kind in KINDS.items():  # the attacker's computation works on old data
        assert fhir.get(f"/fhir/{rtype}/{_public(cid, kind)}").status_code == 200
    # a resource a client wrote through /fhir, referencing the old Patient id
    note = fhir.post("/fhir/Observation", {
        "resourceType": "Observation", "status": "final", "code": {"text": "pain score"},
        "subject": {"reference": f"Patient/{_public(cid, 'patient')}"},
        "valueInteger": 3})
    assert note.status_code == 201, note.get_json()
    assert _old_ids_left(app, cid) > 0

    output = _rekey(database_url)
    assert "1 ledger links moved" in output

    new = {rtype: identity.resource_id(cid, kind) for rtype, kind in KINDS.items()}
    for rtype, kind in KINDS.items():
        assert fhir.get(f"/fhir/{rtype}/{_public(cid, kind)}").status_code == 404
        resp = fhir.get(f"/fhir/{rtype}/{new[rtype]}")
        assert resp.status_code == 200 and resp.get_json()["id"] == new[rtype]
    episode = fhir.get(f"/fhir/EpisodeOfCare/{new['EpisodeOfCare']}").get_json()
    assert episode["patient"]["reference"] == f"Patient/{new['Patient']}"
    plans = fhir.get(f"/fhir/CarePlan?patient=Patient/{new['Patient']}").get_json()
    assert [e["resource"]["id"] for e in plans["entry"]
            if e["search"]["mode"] == "match"] == [new["CarePlan"]]
    observations = fhir.get(f"/fhir/Observation?subject=Patient/{new['Patient']}").get_json()
    assert observations["total"] == 1
    assert observations["entry"][0]["resource"]["subject"]["reference"] == \
        f"Patient/{new['Patient']}"
    history = fhir.get(f"/fhir/CarePlan/{new['CarePlan']}/_history").get_json()
    assert history["total"] >= 1
    assert _old_ids_left(app, cid) == 0

    # the ledger keeps its link (now of the new id) and the pending delivery follows
    with app.extensions["hub.db"].engine.connect() as conn:
        link = conn.execute(select(sync_links)).one()
        queued = conn.execute(select(outbox).where(outbox.c.status == "pending")).all()
    assert (link.local_id, link.remote_id, link.remote_version) == (
        new["CarePlan"], "remote-cp-9", "4")
    mine = [q for q in queued if q.partner_id == "st-marys"]
    assert mine[0].resource_id == new["CarePlan"] and mine[0].payload["id"] == new["CarePlan"]
    assert mine[0].payload["subject"]["reference"] == f"Patient/{new['Patient']}"

    # the case goes on under the new ids: no second EpisodeOfCare, CarePlan or Patient
    resp = client.post(f"/api/cases/{cid}/transitions", json={"to": "assessment"},
                       headers={**hdr, "If-Match": f'W/"{old_case["version"]}"'})
    assert resp.status_code == 200, resp.get_json()
    for rtype in KINDS:
        assert fhir.get(f"/fhir/{rtype}").get_json()["total"] == 1, rtype
    assert fhir.get(f"/fhir/EpisodeOfCare/{new['EpisodeOfCare']}").get_json()[
        "meta"]["versionId"] == "2"

    assert "0 moved" in _rekey(database_url)  # idempotent


def test_rekey_retires_old_resources_the_hub_already_rewrote(app, client, hdr, fhir,
                                                             old_case, database_url):
    cid = old_case["id"]
    # the case changed after the key came: the hub wrote its resources under new ids
    resp = client.post(f"/api/cases/{cid}/transitions", json={"to": "assessment"},
                       headers={**hdr, "If-Match": f'W/"{old_case["version"]}"'})
    assert resp.status_code == 200, resp.get_json()
    assert fhir.get("/fhir/EpisodeOfCare").get_json()["total"] == 2  # a duplicate

    output = _rekey(database_url)
    assert "retired" in output
    new = identity.resource_id(cid, "case")
    assert fhir.get(f"/fhir/EpisodeOfCare/{_public(cid, 'case')}").status_code == 410
    assert fhir.get("/fhir/EpisodeOfCare").get_json()["total"] == 1
    assert fhir.get(f"/fhir/EpisodeOfCare/{new}").get_json()["status"]
    plan = fhir.get(f"/fhir/CarePlan/{identity.resource_id(cid, 'careplan')}").get_json()
    assert plan["subject"]["reference"] == f"Patient/{identity.resource_id(cid, 'patient')}"
    # the link of the retired CarePlan now names the new one
    with app.extensions["hub.db"].engine.connect() as conn:
        links = conn.execute(select(sync_links)).all()
    assert [(x.local_id, x.remote_id) for x in links] == [
        (identity.resource_id(cid, "careplan"), "remote-cp-9")]
