"""Issue 9.6 for the coverage requests of a case: each request to
``/api/cases/<id>/eligibility-requests``, ``/prior-authorizations`` and
``/coverage-requests`` leaves an AuditEvent naming the case and its patient, found by an
auditor at ``/fhir/AuditEvent``; refusals are recorded with outcome 4. So does an insurer's
notification that changes the case (``/notifications/pas``)."""

from __future__ import annotations

from hub.mappings.identity import resource_id

from .conftest import FUNDING, ORG, item
from .test_insurer_routes import _notify, pended

__all__ = ["pended"]  # the fixture, shared with the insurer route tests

CASE_SYSTEM = "https://fhir-case-hub.org/fhir/NamingSystem/case"


def _events(client, auth_headers, episode: str) -> list[dict]:
    resp = client.get(f"/fhir/AuditEvent?entity={episode}&_count=100",
                      headers=auth_headers("system/AuditEvent.rs"))
    assert resp.status_code == 200, resp.get_json()
    events = [e["resource"] for e in resp.get_json().get("entry", [])]
    return sorted(events, key=lambda e: e["recorded"])


def test_coverage_requests_are_audited(api, case, client, auth_headers):
    cid = case["id"]
    episode = f"EpisodeOfCare/{resource_id(cid, 'case')}"
    pa = api.post(f"/api/cases/{cid}/prior-authorizations",
                  {"funding_id": FUNDING, "items": [item("S9500")]}, version=case["version"])
    assert pa.status_code == 202, pa.get_json()
    elig = api.post(f"/api/cases/{cid}/eligibility-requests",
                    {"funding_id": FUNDING, "purposes": ["benefits"]},
                    version=case["version"] + 1)
    assert elig.status_code == 202, elig.get_json()
    assert api.get(f"/api/cases/{cid}/coverage-requests").status_code == 200
    assert api.get(pa.headers["Location"]).status_code == 200
    stale = api.post(f"/api/cases/{cid}/eligibility-requests",
                     {"funding_id": FUNDING, "purposes": ["benefits"]}, version=1)
    assert stale.status_code == 412
    events = [e for e in _events(client, auth_headers, episode)
              if e["subtype"][0]["code"] != "create"]  # the case's own opening
    assert [(e["subtype"][0]["code"], e["action"], e["outcome"]) for e in events] == [
        ("update", "U", "0"), ("update", "U", "0"), ("read", "R", "0"), ("read", "R", "0"),
        ("update", "U", "4")]
    patients = {x["what"]["reference"] for e in events[:4] for x in e["entity"]
                if x["role"]["code"] == "1"}
    assert len(patients) == 1 and next(iter(patients)).startswith("Patient/")
    for event in events:
        case_entity = next(x for x in event["entity"] if x["role"]["code"] == "4")
        assert case_entity["what"] == {"reference": episode, "identifier": {
            "system": CASE_SYSTEM, "value": cid}}


def test_an_insurer_notification_is_audited_with_the_insurer_and_the_case(
        client, auth_headers, pended):
    cid = pended["case"]["id"]
    episode = f"EpisodeOfCare/{resource_id(cid, 'case')}"
    insurer = auth_headers("system/ClaimResponse.c", organization=ORG)
    before = len(_events(client, auth_headers, episode))
    assert _notify(client, insurer, pended["notification"]).status_code == 200
    events = _events(client, auth_headers, episode)
    assert len(events) == before + 1
    event = events[-1]
    assert event["outcome"] == "0" and event["action"] == "C"
    assert {"reference": ORG} in [a["who"] for a in event["agent"]]
    assert any(x["role"]["code"] == "1" for x in event["entity"])  # the patient
