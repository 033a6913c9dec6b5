"""Case writes project into the FHIR store and the outbox; partner FHIR writes update the case.

Issue #4 item 5: one write = one transaction across the case, its resource versions and
the outbox; a case change creates new versions only for the resources whose content
changed; a partner's write updates the case record, or is refused with nothing stored.
"""

from __future__ import annotations

from case_data import physician, river
from outbox_query import outbox_rows
from partners_file import hospital, partners_settings
from sqlalchemy import func, select

from hub.fhirstore.tables import resources as resources_table
from hub.mappings.identity import resource_id

AGENCY = "Organization/sunrise"
HOSPITAL = "Organization/lakeside"


settings = partners_settings(hospital("lakeside", organization=HOSPITAL),
                             hospital("elsewhere", organization="Organization/not-in-this-case"))


def _river_with_partners() -> dict:
    body = river()
    for member in body["care_team"]:
        if member.get("on_behalf_of"):
            member["on_behalf_of"]["reference"] = HOSPITAL
    body["referrals"] = [{
        "id": "pt-home",
        "service": {"system": "http://snomed.info/sct", "code": "91251008",
                    "display": "Physical therapy procedure"},
        "agency": {"name": "Sunrise Home Health", "reference": AGENCY},
        "status": "requested",
        "reason": "physiotherapy at home after discharge",
    }]
    return body


def _create(client, headers, body) -> dict:
    resp = client.post("/api/cases", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _versions(app) -> dict[tuple[str, str], int]:
    with app.extensions["hub.db"].engine.connect() as conn:
        rows = conn.execute(select(resources_table.c.res_type, resources_table.c.res_id,
                                   func.max(resources_table.c.version_id))
                            .group_by(resources_table.c.res_type, resources_table.c.res_id))
        return {(t, i): v for t, i, v in rows}


def _outbox(app) -> list:
    return outbox_rows(app.extensions["hub.db"])


def test_new_case_is_served_as_fhir(client, auth_headers):
    case = _create(client, auth_headers("system/*.cruds"), _river_with_partners())
    fhir = auth_headers("system/*.rs")
    episode = client.get(f"/fhir/EpisodeOfCare/{resource_id(case['id'], 'case')}", headers=fhir)
    assert episode.status_code == 200
    assert episode.headers["ETag"] == 'W/"1"'
    plans = client.get(f"/fhir/CarePlan?patient=Patient/{resource_id(case['id'], 'patient')}",
                       headers=fhir).get_json()
    assert plans["total"] == 1
    tasks = client.get(f"/fhir/Task?owner={AGENCY}&status=requested&_include=Task:focus",
                       headers=fhir).get_json()
    kinds = sorted(e["resource"]["resourceType"] for e in tasks["entry"]
                   if e["resource"]["resourceType"] != "OperationOutcome")
    assert kinds == ["ServiceRequest", "Task"]


def test_only_changed_resources_get_a_new_version(app, client, auth_headers):
    headers = auth_headers("system/*.cruds")
    case = _create(client, headers, _river_with_partners())
    before = _versions(app)
    resp = client.post(f"/api/cases/{case['id']}/plan/approval", json={"approved_by": physician()},
                       headers={**headers, "If-Match": 'W/"1"'})
    assert resp.status_code == 200, resp.get_json()
    after = _versions(app)
    careplan = ("CarePlan", resource_id(case["id"], "careplan"))
    patient = ("Patient", resource_id(case["id"], "patient"))
    assert after[careplan] == before[careplan] + 1
    assert after[patient] == before[patient] == 1
    changed = {k for k in after if after[k] != before.get(k)}
    assert careplan in changed and patient not in changed


def test_elements_the_case_does_not_model_are_kept(app, client, auth_headers):
    headers = auth_headers("system/*.cruds")
    case = _create(client, headers, _river_with_partners())
    path = f"/fhir/CarePlan/{resource_id(case['id'], 'careplan')}"
    plan = client.get(path, headers=headers).get_json()
    plan.setdefault("identifier", []).append({"system": "urn:oid:1.2.3.4", "value": "EHR-77"})
    plan.setdefault("extension", []).append({"url": "http://example.org/ext/ehr-flag",
                                             "valueBoolean": True})
    resp = client.put(path, json=plan, headers={**headers, "If-Match": 'W/"1"',
                                                "Content-Type": "application/fhir+json"})
    assert resp.status_code == 200, resp.get_json()
    # a FHIR write of the case's CarePlan is a change of the case: version 2 (hub.fhircase)
    client.post(f"/api/cases/{case['id']}/plan/approval", json={"approved_by": physician()},
                headers={**headers, "If-Match": 'W/"2"'})
    latest = client.get(path, headers=headers).get_json()
    assert latest["meta"]["versionId"] == "3"
    assert {"system": "urn:oid:1.2.3.4", "value": "EHR-77"} in latest["identifier"]
    assert {"url": "http://example.org/ext/ehr-flag", "valueBoolean": True} in latest["extension"]


def test_concerned_partners_get_changed_resources_queued(app, client, auth_headers):
    headers = auth_headers("system/*.cruds")
    case = _create(client, headers, _river_with_partners())
    rows = _outbox(app)
    assert {r.partner_id for r in rows} == {"lakeside"}
    assert sorted((r.resource_type, r.operation) for r in rows) == [
        ("CarePlan", "create"), ("CareTeam", "create")]
    assert all(r.case_id == case["id"] for r in rows)
    client.post(f"/api/cases/{case['id']}/plan/approval", json={"approved_by": physician()},
                headers={**headers, "If-Match": 'W/"1"'})
    rows = _outbox(app)
    assert [(r.resource_type, r.operation) for r in rows[2:]] == [("CarePlan", "update")]


def test_a_failed_case_write_stores_no_resources_and_queues_nothing(app, client, auth_headers):
    headers = auth_headers("system/*.cruds")
    case = _create(client, headers, _river_with_partners())
    before, queued = _versions(app), len(_outbox(app))
    resp = client.post(f"/api/cases/{case['id']}/transitions", json={"to": "closed"},
                       headers={**headers, "If-Match": 'W/"1"'})
    assert resp.status_code == 409
    assert _versions(app) == before and len(_outbox(app)) == queued


def _task(client, headers, case_id) -> tuple[str, dict]:
    path = f"/fhir/Task/{resource_id(case_id, 'task', 'pt-home')}"
    resp = client.get(path, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return path, resp.get_json()


def test_agency_accepting_its_task_updates_the_case(client, auth_headers):
    case = _create(client, auth_headers("system/*.cruds"), _river_with_partners())
    agency = auth_headers("system/Task.rus system/ServiceRequest.rs", organization=AGENCY)
    path, task = _task(client, agency, case["id"])
    task["status"] = "accepted"
    resp = client.put(path, json=task, headers={**agency, "If-Match": task["meta"]["versionId"]
                                                and f'W/"{task["meta"]["versionId"]}"'})
    assert resp.status_code == 200, resp.get_json()
    stored = client.get(f"/api/cases/{case['id']}", headers=auth_headers("system/Case.r"))
    body = stored.get_json()
    assert body["version"] == 2
    assert body["referrals"][0]["status"] == "accepted"
    assert body["referrals"][0]["history"][-1]["by"] == "owner"


def test_agency_completing_moves_the_service_request_to_completed(client, auth_headers):
    case = _create(client, auth_headers("system/*.cruds"), _river_with_partners())
    agency = auth_headers("system/Task.rus system/ServiceRequest.rs", organization=AGENCY)
    for status in ("accepted", "in-progress", "completed"):
        path, task = _task(client, agency, case["id"])
        task["status"] = status
        resp = client.put(path, json=task,
                          headers={**agency, "If-Match": f'W/"{task["meta"]["versionId"]}"'})
        assert resp.status_code == 200, (status, resp.get_json())
    sr = client.get(f"/fhir/ServiceRequest/{resource_id(case['id'], 'referral', 'pt-home')}",
                    headers=agency).get_json()
    assert sr["status"] == "completed"


def test_an_illegal_agency_move_is_refused_and_nothing_changes(client, auth_headers):
    case = _create(client, auth_headers("system/*.cruds"), _river_with_partners())
    agency = auth_headers("system/Task.rus", organization=AGENCY)
    path, task = _task(client, agency, case["id"])
    task["status"] = "completed"  # requested -> completed skips acceptance
    resp = client.put(path, json=task, headers={**agency, "If-Match": 'W/"1"'})
    assert resp.status_code == 409
    assert resp.get_json()["resourceType"] == "OperationOutcome"
    assert client.get(path, headers=agency).get_json()["meta"]["versionId"] == "1"
    body = client.get(f"/api/cases/{case['id']}", headers=auth_headers("system/Case.r")).get_json()
    assert body["version"] == 1 and body["referrals"][0]["status"] == "requested"
