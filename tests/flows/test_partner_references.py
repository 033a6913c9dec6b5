"""References that resolve at the partner, recovery of lost copies, reconciliation.

A hospital EHR (the Medplum peer with ``--check-references``: a write naming a resource it
does not hold is refused, as a HAPI FHIR JPA server does) receives Conditions, Goals, the
CareTeam and the CarePlan. The hub must send what the CarePlan points at first and refer to
the EHR's ids, to the EHR's own patient (found by MRN), and logically to the rest; a copy
the EHR lost is created again; ``hub sync verify`` reports what the EHR lost or changed and
``--repair`` brings it back in step. Fictional data only.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from case_data import physician, river
from click.testing import CliRunner
from peer_fhir import running_peer
from sqlalchemy import select

from hub.cli import main
from hub.mappings.identity import resource_id
from hub.store.sync_tables import sync_links
from hub.sync.partners import Partner, Timeouts, save_partners
from hub.sync.verify import verify_partner

from .flow_world import HubHarness, Peer, assert_references_resolve

pytestmark = pytest.mark.integration

HOSPITAL_ORG = "Organization/st-marys"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5.1"
RECEIVES = ("Condition", "Goal", "CareTeam", "CarePlan")


@pytest.fixture(scope="module")
def ehr_base():
    with running_peer(check_references=True) as base:
        yield base


def _partner(base: str, on_drift: str = "resend") -> Partner:
    return Partner(id="st-marys", kind="hospital", base_url=base, organization=HOSPITAL_ORG,
                   receives=RECEIVES, poll_seconds=300, on_drift=on_drift,
                   timeouts=Timeouts(connect=0.5, read=2.0))


@pytest.fixture
def ehr(ehr_base):
    return Peer(ehr_base)


@pytest.fixture
def hub(app, ehr_base):
    harness = HubHarness(app, {"st-marys": _partner(ehr_base)})
    yield harness
    harness.close()


def _open_case(client, auth_headers, mrn: str) -> dict:
    body = river()
    body["patient"]["identifiers"][0] = {"system": MRN_SYSTEM, "value": mrn}
    body["encounters"] = []
    for member in body["care_team"]:
        if member["id"] == "neuro":
            member["on_behalf_of"] = {"name": "St Mary's Hospital", "reference": HOSPITAL_ORG}
    resp = client.post("/api/cases", json=body, headers=auth_headers("system/*.cruds"))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _approve(client, auth_headers, case: dict, version: int) -> None:
    resp = client.post(f"/api/cases/{case['id']}/plan/approval",
                       json={"approved_by": physician()},
                       headers={**auth_headers("system/*.cruds"), "If-Match": f'W/"{version}"'})
    assert resp.status_code == 200, resp.get_json()


def _link(hub, rtype: str, rid: str):
    with hub.db.engine.connect() as conn:
        return conn.execute(select(sync_links).where(
            sync_links.c.partner_id == "st-marys", sync_links.c.local_type == rtype,
            sync_links.c.local_id == rid)).first()


def _sent(client, auth_headers, ehr, hub, case):
    """(EHR patient, EHR CarePlan) after the case was opened and delivered."""
    hub.drain()
    assert not hub.dead(), [(r.resource_type, r.last_error) for r in hub.dead()]
    [plan] = ehr.ours("CarePlan", resource_id(case["id"], "careplan"))
    return plan


def test_carePlan_refers_to_what_the_ehr_holds(app, client, auth_headers, hub, ehr):
    mrn = f"MRN-{uuid.uuid4().hex[:8]}"
    patient = ehr.create({"resourceType": "Patient",
                          "identifier": [{"system": MRN_SYSTEM, "value": mrn}],
                          "name": [{"family": "River", "given": ["Sam"]}]})
    case = _open_case(client, auth_headers, mrn)
    plan = _sent(client, auth_headers, ehr, hub, case)

    # what the plan points at went out before it (one (partner, case) order)
    order = [r.resource_type for r in hub.rows(partner_id="st-marys")]
    assert order.index("CarePlan") > max(i for i, t in enumerate(order) if t != "CarePlan")
    assert {"Condition", "Goal", "CareTeam"} <= set(order)

    assert_references_resolve(ehr, plan, patient_at_ehr=patient["id"])
    assert plan["subject"]["reference"] == f"Patient/{patient['id']}"  # the EHR's own patient
    [team] = ehr.ours("CareTeam", resource_id(case["id"], "careteam"))
    assert plan["careTeam"] == [{"reference": f"CareTeam/{team['id']}"}]
    goal_ids = {g["reference"] for a in plan["activity"]
                for g in (a.get("detail") or {}).get("goal") or []} | {
        g["reference"] for g in plan.get("goal") or []}
    held = {f"Goal/{_link(hub, 'Goal', g.split('/')[1]).remote_id}" for g in
            [x["reference"] for x in client.get(
                f"/fhir/CarePlan/{resource_id(case['id'], 'careplan')}",
                headers=auth_headers("system/*.rs")).get_json()["goal"]]}
    assert goal_ids == held
    # what the EHR does not receive is referred to logically, by the hub identifier
    episode = next(e["valueReference"] for e in plan["extension"]
                   if e["url"].endswith("workflow-episodeOfCare"))
    assert "reference" not in episode and episode["type"] == "EpisodeOfCare"
    assert episode["identifier"]["value"]
    assert "reference" not in plan["author"] and plan["author"]["type"] == "Practitioner"
    assert_references_resolve(ehr, team, patient_at_ehr=patient["id"])


def test_a_copy_the_ehr_lost_is_created_again(app, client, auth_headers, hub, ehr):
    case = _open_case(client, auth_headers, f"MRN-{uuid.uuid4().hex[:8]}")
    plan = _sent(client, auth_headers, ehr, hub, case)
    plan_id = resource_id(case["id"], "careplan")
    goal_id = resource_id(case["id"], "goal", "walk")
    lost_goal = _link(hub, "Goal", goal_id).remote_id
    # the EHR loses the plan and a goal it points at (restored from an older backup)
    for path in (f"CarePlan/{plan['id']}", f"Goal/{lost_goal}"):
        resp = requests.delete(f"{ehr.base}/{path}", timeout=10)
        assert resp.ok, resp.text

    _approve(client, auth_headers, case, 1)  # the plan's update meets 404/410 at the EHR
    assert [(r.resource_type, r.operation) for r in hub.rows(status="pending")] == [
        ("CarePlan", "update")]  # the goal did not change: only the plan goes out
    hub.drain()
    assert not hub.dead(), [(r.resource_type, r.last_error) for r in hub.dead()]
    [again] = ehr.ours("CarePlan", plan_id)
    assert again["id"] != plan["id"]
    assert _link(hub, "CarePlan", plan_id).remote_id == again["id"]  # the ledger is fixed
    [goal] = ehr.ours("Goal", goal_id)  # created again too, and linked
    assert goal["id"] != lost_goal and _link(hub, "Goal", goal_id).remote_id == goal["id"]
    assert f"Goal/{goal['id']}" in {g["reference"] for g in again["goal"]}
    approval = [e["url"] for x in again.get("extension") or []
                for e in x.get("extension") or []]
    assert "approvedBy" in approval and "approvedAt" in approval  # the new version
    assert_references_resolve(ehr, again, patient_at_ehr=None)


def test_verify_reports_and_repairs_drift(app, client, auth_headers, hub, ehr, database_url,
                                          tmp_path):
    case = _open_case(client, auth_headers, f"MRN-{uuid.uuid4().hex[:8]}")
    _sent(client, auth_headers, ehr, hub, case)
    goal_id = resource_id(case["id"], "goal", "walk")
    goal_link = _link(hub, "Goal", goal_id)
    team_id = resource_id(case["id"], "careteam")
    assert goal_link is not None and goal_link.sent_hash

    clean = verify_partner(hub.db, hub.adapters, "st-marys")
    assert {f.state for f in clean} == {"ok"} and len(clean) >= 4

    # the EHR loses a Goal and changes the CareTeam
    assert requests.delete(f"{ehr.base}/Goal/{goal_link.remote_id}", timeout=10).ok
    [team] = ehr.ours("CareTeam", team_id)
    team["name"] = "Changed at the hospital"
    ehr.update(team)

    # the CLI reports both (and exits 1); the admin endpoint says the same
    partners_file = tmp_path / "partners.json"
    save_partners(partners_file, {"st-marys": _partner(ehr.base)})
    runner = CliRunner()
    result = runner.invoke(main, ["--database-url", database_url, "sync", "verify",
                                  "--partner", "st-marys", "--json"],
                           env={"HUB_PARTNERS_FILE": str(partners_file)})
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    states = {(r["resource_type"], r["resource_id"]): r["state"] for r in report["resources"]}
    assert states[("Goal", goal_id)] == "missing"
    assert states[("CareTeam", team_id)] == "changed"
    assert report["summary"]["missing"] == 1 and report["summary"]["changed"] == 1
    resp = client.get("/admin/sync/verify?partner=st-marys",
                      headers=auth_headers("system/Delivery.rs"))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["summary"] == report["summary"]
    assert client.post("/admin/sync/verify?partner=st-marys&repair=true",
                       headers=auth_headers("system/Delivery.rs")).status_code == 403

    # repair (on_drift: resend): both re-sent, the EHR back in step
    resp = client.post("/admin/sync/verify?partner=st-marys&repair=true",
                       headers=auth_headers("system/Delivery.u"))
    assert resp.status_code == 200, resp.get_json()
    repaired = {(r["resource_type"], r["resource_id"]): r["repair"]
                for r in resp.get_json()["resources"]}
    assert repaired[("Goal", goal_id)] == repaired[("CareTeam", team_id)] == "resent"
    hub.drain()
    assert not hub.dead(), [(r.resource_type, r.last_error) for r in hub.dead()]
    after = verify_partner(hub.db, hub.adapters, "st-marys")
    assert {f.state for f in after} == {"ok"}, [f for f in after if f.state != "ok"]
    assert len(ehr.ours("Goal", goal_id)) == 1
    [team] = ehr.ours("CareTeam", team_id)
    assert team["name"] != "Changed at the hospital"
    result = runner.invoke(main, ["--database-url", database_url, "sync", "verify",
                                  "--partner", "st-marys"],
                           env={"HUB_PARTNERS_FILE": str(partners_file)})
    assert result.exit_code == 0, result.output


def test_verify_pull_policy_takes_the_partners_change(app, client, auth_headers, ehr_base,
                                                      ehr):
    hub = HubHarness(app, {"st-marys": _partner(ehr_base, on_drift="pull")})
    try:
        case = _open_case(client, auth_headers, f"MRN-{uuid.uuid4().hex[:8]}")
        _sent(client, auth_headers, ehr, hub, case)
        before = hub.case(case["id"])
        plan_id = resource_id(case["id"], "careplan")
        [plan] = ehr.ours("CarePlan", plan_id)
        plan["status"] = "on-hold"
        ehr.update(plan)
        [changed] = [f for f in verify_partner(hub.db, hub.adapters, "st-marys", repair=True)
                     if f.state != "ok"]
        assert (changed.resource_type, changed.state, changed.repair) == (
            "CarePlan", "changed", "pulled")
        rows = hub.drain()
        assert hub.case(case["id"]).plan.status.value == "on-hold", [
            (r.operation, r.resource_type, r.status, r.response) for r in rows
            if r.operation == "pull"]
        # the references the EHR got (its ids, logical ones) come back as the hub's own:
        # nothing else of the plan changed
        after = hub.case(case["id"])
        assert after.plan.goals == before.plan.goals
        assert after.plan.activities == before.plan.activities
        assert after.case_manager == before.case_manager
        assert {f.state for f in verify_partner(hub.db, hub.adapters, "st-marys")} == {"ok"}
    finally:
        hub.close()
