"""Issue 9.6 beyond /fhir, as an auditor checks it: reads and writes of patient data
through the case API (``/api/cases``), the operators' API (``/admin``) and the console's
case pages each leave one AuditEvent (IHE BALP shapes) in the same append-only log,
searchable at ``/fhir/AuditEvent`` and exported by ``hub audit export``.
"""

from __future__ import annotations

import base64
import json
import re

from audit_search import audit_events
from case_data import minimal
from click.testing import CliRunner

from hub.cli import main
from hub.mappings.identity import resource_id
from hub.sync import outbox
from tests.console_data import PASSWORD, active_case, add_user

DCM = "http://dicom.nema.org/resources/ontology/DCM"
CASE_SYSTEM = "https://fhir-case-hub.org/fhir/NamingSystem/case"
OFFICE = "198.51.100.7"
FAMILY = "Quillfeather"


def _open(client, hdr) -> dict:
    body = minimal(patient={"name": {"family": FAMILY, "given": ["Ada"]},
                            "birth_date": "1944-02-29"})
    resp = client.post("/api/cases", json=body, headers=hdr)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _episode(case_id: str) -> str:
    return f"EpisodeOfCare/{resource_id(case_id, 'case')}"


def _patient(auditor_client, fhir, case_id: str) -> str:
    episode = fhir.get(f"/fhir/{_episode(case_id)}").get_json()
    return episode["patient"]["reference"]


def _case_api(events: list[dict]) -> list[dict]:
    """The events of case-API and console requests (their case entity carries the case
    id), not those of the FHIR reads the test itself makes."""
    return [e for e in events if any(
        (x.get("what") or {}).get("identifier", {}).get("system") == CASE_SYSTEM
        for x in e.get("entity", []))]


def _whats(event: dict) -> list[dict]:
    return [e.get("what") for e in event.get("entity", [])]


def test_a_case_api_read_is_audited_with_patient_agent_outcome_and_address(
        client, auth_headers, auditor, fhir):
    hdr = auth_headers("system/Case.cruds")
    case = _open(client, hdr)
    resp = client.get(f"/api/cases/{case['id']}", headers={**hdr, "X-Request-Id": "req-7"},
                      environ_base={"REMOTE_ADDR": OFFICE})
    assert resp.status_code == 200
    episode, patient = _episode(case["id"]), _patient(auditor, fhir, case["id"])
    # the auditor finds it by the case's EpisodeOfCare, and by the patient
    case_api = _case_api(audit_events(auditor, f"&entity={episode}"))
    (read,) = [e for e in case_api if e["subtype"][0]["code"] == "read"]
    assert read in audit_events(auditor, f"&patient={patient}")
    assert read["type"]["code"] == "rest" and read["action"] == "R"
    assert read["outcome"] == "0" and "outcomeDesc" not in read
    client_agent, server = read["agent"][:2]
    assert client_agent["type"]["coding"][0]["code"] == "110152"  # BALP read: destination
    assert client_agent["requestor"] is True and client_agent["network"] == {
        "address": OFFICE, "type": "2"}
    assert client_agent["who"]["identifier"]["value"]  # the client id
    assert server["requestor"] is False
    data = next(e for e in read["entity"] if e["role"]["code"] == "4")
    assert data["what"] == {"reference": episode,
                            "identifier": {"system": CASE_SYSTEM, "value": case["id"]}}
    assert {"reference": patient} in _whats(read)
    assert {"identifier": {"value": "req-7"}} in _whats(read)
    assert read["source"]["site"] == "http://hub.test"
    # the create before it: action C, the same case and patient
    (created,) = [e for e in case_api if e["action"] == "C"]
    assert created["subtype"][0]["code"] == "create" and {"reference": patient} in \
        _whats(created)
    # identifiers only: no body, no name, no birth date
    text = json.dumps(audit_events(auditor))
    assert FAMILY not in text and "1944-02-29" not in text


def test_every_case_api_interaction_is_audited(client, auth_headers, auditor, fhir):
    hdr = auth_headers("system/Case.cruds")
    case = _open(client, hdr)
    cid, episode = case["id"], _episode(case["id"])
    patient = _patient(auditor, fhir, cid)
    v = f'W/"{case["version"]}"'
    calls = [
        ("GET", f"/api/cases?name={FAMILY}", None, {}, ("search-type", "E")),
        ("PUT", f"/api/cases/{cid}", {**case, "case_manager": {"name": "Pat Doe"}}, {"If-Match": v},
         ("update", "U")),
        ("POST", f"/api/cases/{cid}/notes", {"text": "called the patient"}, {},
         ("update", "U")),
        ("POST", f"/api/cases/{cid}/transitions", {"to": "assessment"}, {"If-Match": 'W/"3"'},
         ("update", "U")),
    ]
    for method, url, body, headers, _ in calls:
        resp = client.open(url, method=method, json=body, headers={**hdr, **headers})
        assert resp.status_code < 300, (url, resp.get_json())
    events = sorted(_case_api(audit_events(auditor, f"&patient={patient}")),
                    key=lambda e: e["recorded"])
    seen = [(e["subtype"][0]["code"], e["action"]) for e in events]
    assert seen == [("create", "C")] + [expected for *_, expected in calls]
    assert all(e["outcome"] == "0" for e in events)
    search = events[1]
    query = next(e for e in search["entity"] if e["role"]["code"] == "24")
    assert base64.b64decode(query["query"]).decode() == f"name={FAMILY}"
    assert {"reference": episode, "identifier": {"system": CASE_SYSTEM, "value": cid}} \
        in _whats(search)


def test_refused_and_failed_case_api_requests_are_audited_4_and_not_found(
        client, auth_headers, auditor):
    bound = auth_headers("system/*.cruds system/Case.cruds", organization="Organization/x")
    reader = auth_headers("system/Case.r")
    assert client.get("/api/cases/some-case", headers=bound).status_code == 403
    assert client.post("/api/cases", json=minimal(), headers=reader).status_code == 403
    assert client.get("/api/cases/no-such-case", headers=reader).status_code == 404
    events = audit_events(auditor)
    refused = sorted([e for e in events if e["outcome"] == "4"], key=lambda e: e["recorded"])
    assert [(e["action"], e["outcomeDesc"]) for e in refused] == [
        ("R", "403 refused"), ("C", "403 refused"), ("R", "404 refused")]
    # the bound client's attempt names its Organization and the case it asked for
    first = refused[0]
    assert {"reference": "Organization/x"} in [a["who"] for a in first["agent"]]
    assert {"reference": _episode("some-case"),
            "identifier": {"system": CASE_SYSTEM, "value": "some-case"}} in _whats(first)
    # a request without a valid token is not an access by anyone: it is a refused
    # authentication (tests/security/test_audit_authn.py)
    assert client.get("/api/cases").status_code == 401
    new = [e for e in audit_events(auditor) if e not in events]
    assert sorted(e["type"]["code"] for e in new) == ["110114", "rest"]  # + the search above


def test_a_server_error_is_audited_8(app, client, auth_headers, auditor, monkeypatch):
    from hub import services

    def broken(*args, **kwargs):
        raise RuntimeError("storage exploded")

    monkeypatch.setattr(services, "get_case", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    hdr = auth_headers("system/Case.cruds")
    assert client.get("/api/cases/c-1", headers=hdr).status_code == 500
    (failed,) = [e for e in audit_events(auditor) if e["outcome"] == "8"]
    assert failed["action"] == "R" and failed["outcomeDesc"] == "500 server error"
    assert "exploded" not in json.dumps(failed)


def test_admin_deliveries_with_payloads_are_audited(app, client, auth_headers, auditor):
    patient = {"resourceType": "CarePlan", "id": "cp-1", "status": "active",
               "intent": "plan", "subject": {"reference": "Patient/p-77"}}
    with app.extensions["hub.db"].sessions() as session:
        row = outbox.enqueue(session, partner_id="st-marys", resource_type="CarePlan",
                             resource_id="cp-1", operation="update", payload=patient,
                             case_id="case-1")
        session.commit()
    ops = auth_headers("system/Delivery.rs")
    assert client.get("/admin/deliveries?include=payload", headers=ops).status_code == 200
    assert client.get(f"/admin/deliveries/{row}", headers=ops).status_code == 200
    events = sorted(audit_events(auditor, "&entity=CarePlan/cp-1"), key=lambda e: e["recorded"])
    assert [(e["subtype"][0]["code"], e["outcome"]) for e in events] == [
        ("search-type", "0"), ("read", "0")]
    # the payload was shown: its patient is named; without payload, only the resource
    assert {"reference": "Patient/p-77"} in _whats(events[0])
    assert {"reference": "Patient/p-77"} not in _whats(events[1])
    assert audit_events(auditor, "&patient=Patient/p-77") == [events[0]]
    assert "active" not in json.dumps(events)  # no payload in the log


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_console_case_pages_are_audited_with_the_user_as_agent(app, client, auditor):
    db = app.extensions["hub.db"]
    add_user(db, "cara", "case-manager")
    case = active_case(db)
    page = client.get("/signin")
    client.post("/signin", data={"name": "cara", "password": PASSWORD,
                                 "csrf_token": _csrf(page.get_data(as_text=True))},
                environ_base={"REMOTE_ADDR": OFFICE})
    assert client.get("/cases").status_code == 200
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    resp = client.post(f"/cases/{case.id}/notes", data={
        "text": "spoke with the family", "version": str(case.version),
        "csrf_token": _csrf(html)})
    assert resp.status_code == 302
    stale = client.post(f"/cases/{case.id}/notes", data={
        "text": "again", "version": str(case.version), "csrf_token": _csrf(html)})
    assert stale.status_code == 302  # flashed "Not saved": a stale version
    events = sorted(audit_events(auditor, "&agent=cara"), key=lambda e: e["recorded"])
    signed_in, *events = events  # the sign-in (tests/security/test_audit_authn.py)
    assert signed_in["subtype"][0]["code"] == "110122" and signed_in["outcome"] == "0"
    assert [(e["subtype"][0]["code"], e["outcome"]) for e in events] == [
        ("search-type", "0"), ("read", "0"), ("update", "0"), ("update", "4")]
    read = events[1]
    user = read["agent"][-1]
    assert user["who"] == {"identifier": {
        "system": "https://fhir-case-hub.org/fhir/NamingSystem/console-user", "value": "cara"},
        "display": "cara"}
    assert user["requestor"] is True and read["agent"][0]["requestor"] is False
    assert read["agent"][0]["who"]["identifier"]["value"] == "hub-console"
    patient = f"Patient/{resource_id(case.id, 'patient')}" if case.patient_id is None \
        else f"Patient/{case.patient_id}"
    assert {"reference": patient} in _whats(read)
    assert events[0] in audit_events(auditor, f"&patient={patient}")  # the worklist named it


def test_case_api_events_are_exported_and_purged_like_the_others(
        client, auth_headers, auditor, database_url, tmp_path):
    hdr = auth_headers("system/Case.cruds")
    case = _open(client, hdr)
    client.get(f"/api/cases/{case['id']}", headers=hdr)
    out = tmp_path / "audit.ndjson"
    result = CliRunner().invoke(main, ["--database-url", database_url, "audit", "export",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(e["subtype"][0]["code"], e["action"]) for e in exported
            if {"reference": _episode(case["id"]), "identifier": {
                "system": CASE_SYSTEM, "value": case["id"]}} in _whats(e)} == {
        ("create", "C"), ("read", "R")}
    purged = CliRunner().invoke(main, ["--database-url", database_url, "audit", "purge",
                                       "--days", "0"])
    assert purged.exit_code == 0, purged.output
    assert audit_events(auditor, f"&entity={_episode(case['id'])}") == []
