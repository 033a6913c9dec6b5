"""Issue 9.5 from the case: a referral the case manager offers to some agencies.

The case's referral names its candidate agencies (``offered_to``); the hub writes them as
``Task.restriction.recipient`` of the open referral Task, and the compartments read that:
an agency it is offered to sees the Task and may claim it, another agency finds nothing
there (hidden == absent: the same answers as an id never stored).
"""

from __future__ import annotations

import uuid

import pytest
from case_data import river

from hub.mappings.identity import resource_id

AGENCY_A, AGENCY_B, AGENCY_C = ("Organization/agency-a", "Organization/agency-b",
                                "Organization/agency-c")
SERVICE = {"system": "http://snomed.info/sct", "code": "91251008",
           "display": "Physical therapy procedure"}


def _open_case(client, headers, offered: list[str]) -> dict:
    body = river()
    body["encounters"] = []
    body["referrals"] = [{
        "id": "pt-home", "service": SERVICE, "agency": None, "status": "requested",
        "reason": "physiotherapy at home after discharge",
        "offered_to": [{"name": f"Agency {r[-1].upper()}", "reference": r} for r in offered]}]
    resp = client.post("/api/cases", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _agency(auth_headers, org: str) -> dict:
    return auth_headers("system/Task.rus system/ServiceRequest.rs", organization=org)


def _claim(client, headers, path: str, task: dict, org: str):
    claimed = {**task, "status": "accepted", "owner": {"reference": org}}
    return client.put(path, json=claimed, headers={
        **headers, "If-Match": f'W/"{task["meta"]["versionId"]}"'})


def _absent(client, headers, task: dict) -> tuple[int, str]:
    rid = str(uuid.uuid4())
    resp = client.put(f"/fhir/Task/{rid}", json={**task, "id": rid, "status": "accepted"},
                      headers={**headers, "If-Match": f'W/"{task["meta"]["versionId"]}"'})
    return resp.status_code, resp.get_data(as_text=True).replace(rid, "<id>")


@pytest.fixture
def hub(auth_headers):
    return auth_headers("system/*.cruds system/Case.cruds")


def test_the_case_offers_the_task_to_its_candidates(client, auth_headers, hub):
    case = _open_case(client, hub, [AGENCY_A, AGENCY_B])
    assert [p["reference"] for p in case["referrals"][0]["offered_to"]] == [AGENCY_A, AGENCY_B]
    path = f"/fhir/Task/{resource_id(case['id'], 'task', 'pt-home')}"
    task = client.get(path, headers=hub).get_json()
    assert task["status"] == "requested" and "owner" not in task
    assert [r["reference"] for r in task["restriction"]["recipient"]] == [AGENCY_A, AGENCY_B]

    a, c = _agency(auth_headers, AGENCY_A), _agency(auth_headers, AGENCY_C)
    assert client.get(path, headers=a).status_code == 200
    # agency C: not offered; the Task looks exactly like one that does not exist
    hidden = client.get(path, headers=c)
    never = client.get(f"/fhir/Task/{uuid.uuid4()}", headers=c)
    assert hidden.status_code == never.status_code == 404
    assert client.get("/fhir/Task?status=requested", headers=c).get_json()["total"] == 0
    refused = _claim(client, c, path, task, AGENCY_C)
    answer = refused.status_code, refused.get_data(as_text=True).replace(task["id"], "<id>")
    assert answer == _absent(client, c, task) and answer[0] == 404
    assert client.get(path, headers=hub).get_json() == task  # nothing changed

    # agency A claims it: the case's referral is now A's, no longer offered to B
    claimed = _claim(client, a, path, task, AGENCY_A)
    assert claimed.status_code == 200, claimed.get_json()
    body = client.get(f"/api/cases/{case['id']}", headers=hub).get_json()
    referral = body["referrals"][0]
    assert referral["status"] == "accepted" and referral["agency"]["reference"] == AGENCY_A
    b = _agency(auth_headers, AGENCY_B)
    assert client.get(path, headers=b).status_code == 404
    assert client.get(path, headers=a).get_json()["owner"]["reference"] == AGENCY_A


def test_an_assigned_referral_names_its_agency_as_recipient(client, hub):
    body = river()
    body["encounters"] = []
    body["referrals"] = [{"id": "pt-home", "service": SERVICE, "status": "requested",
                          "agency": {"name": "Agency A", "reference": AGENCY_A}}]
    resp = client.post("/api/cases", json=body, headers=hub)
    assert resp.status_code == 201, resp.get_json()
    case = resp.get_json()
    assert case["referrals"][0]["offered_to"] == []
    task = client.get(f"/fhir/Task/{resource_id(case['id'], 'task', 'pt-home')}",
                      headers=hub).get_json()
    assert task["restriction"]["recipient"] == [{"reference": AGENCY_A, "display": "Agency A"}]


def test_an_open_referral_without_candidates_is_offered_to_every_agency(client, auth_headers,
                                                                        hub):
    case = _open_case(client, hub, [])
    path = f"/fhir/Task/{resource_id(case['id'], 'task', 'pt-home')}"
    task = client.get(path, headers=hub).get_json()
    assert "restriction" not in task
    c = _agency(auth_headers, AGENCY_C)
    assert client.get(path, headers=c).status_code == 200
    assert _claim(client, c, path, task, AGENCY_C).status_code == 200
