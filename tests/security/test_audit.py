"""Issue 9.6, as the attacker and the auditor try it: Provenance and the audit log.

Partners cannot write Provenance (nor rewrite ``recorded``); every write gets a server
Provenance; every read, search, create, update and delete through the FHIR API leaves one
AuditEvent (IHE BALP shapes) that nobody can change or delete, that partners never see,
and that an auditor (``system/AuditEvent.rs``) searches by date, agent, entity, patient.
"""

import base64
import json
from datetime import datetime, timedelta

import pytest
from audit_search import AUDITOR, audit_events
from click.testing import CliRunner
from partner_world import AGENCY_A, ref
from sqlalchemy import event

from hub.audit import log as audit_log
from hub.cli import main
from hub.store.uow import UnitOfWork

DCM = "http://dicom.nema.org/resources/ontology/DCM"


@pytest.fixture
def agency_a(fhir_as):
    return fhir_as("system/*.cruds", organization=AGENCY_A)


def test_partner_cannot_write_provenance(world, fhir, agency_a):
    task = agency_a.put(f"/fhir/Task/{world['task_a']['id']}",
                        {**world["task_a"], "status": "accepted"},
                        headers={"If-Match": 'W/"1"'}).get_json()
    mine = agency_a.get(f"/fhir/Provenance?target={ref(task)}").get_json()["entry"]
    prov = mine[0]["resource"]
    url = f"/fhir/Provenance/{prov['id']}"
    rewritten = {**prov, "recorded": "1999-01-01T00:00:00Z"}
    assert agency_a.put(url, rewritten).status_code == 405
    assert agency_a.delete(url).status_code == 405
    assert agency_a.post("/fhir/Provenance", {k: v for k, v in rewritten.items()
                                              if k not in ("id", "meta")}).status_code == 405
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": rewritten, "request": {"method": "PUT", "url": f"Provenance/{prov['id']}"}}]}
    assert agency_a.post("/fhir", bundle).status_code == 405
    # not the hub's own clients either: Provenance is the server's record
    assert fhir.put(url, rewritten).status_code == 405
    assert fhir.delete(url).status_code == 405
    assert fhir.get(url).get_json() == prov


def test_every_access_is_audited_in_balp_shapes(world, fhir, agency_a, auditor):
    p1 = ref(world["patient1"])
    start = len(audit_events(auditor))
    headers = {"X-Request-Id": "req-42"}
    assert agency_a.get(f"/fhir/{p1}", headers=headers).status_code == 200
    assert agency_a.get(f"/fhir/Task?patient={p1}").status_code == 200
    task = agency_a.put(f"/fhir/Task/{world['task_a']['id']}",
                        {**world["task_a"], "status": "accepted"},
                        headers={"If-Match": 'W/"1"'}).get_json()
    assert agency_a.get(f"/fhir/{ref(world['patient2'])}").status_code == 404  # refused
    events = audit_events(auditor)
    assert len(events) == start + 4 + 1  # + the auditor's own first search
    by_subtype = {e["subtype"][0]["code"]: e for e in events
                  if {"reference": AGENCY_A} in [a["who"] for a in e["agent"]]}
    read = by_subtype["read"]
    assert read["type"]["code"] == "rest" and read["action"] == "R"
    assert read["outcome"] == "0" and read["recorded"].endswith("Z")
    client, server, org = read["agent"]
    assert client["type"]["coding"][0] == {"system": DCM, "code": "110152",
                                           "display": "Destination Role ID"}
    assert client["who"]["identifier"]["value"] and client["network"]["address"]
    assert org["who"] == {"reference": AGENCY_A} and org["requestor"] is True
    assert server["requestor"] is False
    whats = [e.get("what") for e in read["entity"]]
    assert {"reference": f"{p1}/_history/1"} in whats and {"reference": p1} in whats
    assert {"identifier": {"value": "req-42"}} in whats
    search = by_subtype["search-type"]
    assert search["action"] == "E"
    query = next(e for e in search["entity"] if e["role"]["code"] == "24")
    assert base64.b64decode(query["query"]).decode() == f"patient={p1}"
    assert {"reference": p1} in [e.get("what") for e in search["entity"]]
    update = by_subtype["update"]
    assert update["action"] == "U"
    assert {"reference": f"{ref(task)}/_history/2"} in [e.get("what") for e in update["entity"]]
    refused = [e for e in events if e["outcome"] == "4"]
    assert len(refused) == 1 and refused[0]["action"] == "R"
    # identifiers only: no bodies, no search results
    text = json.dumps(events)
    for secret in ("Family1", "Family2", "mrn-1", "1950-04-02"):
        assert secret not in text


def test_search_by_date_agent_entity_patient(world, fhir, agency_a, auditor):
    p1, p3 = ref(world["patient1"]), ref(world["patient3"])
    agency_a.get(f"/fhir/{p1}")
    agency_a.get(f"/fhir/{p3}")
    mine = audit_events(auditor, f"&agent={AGENCY_A}")
    assert len(mine) == 2 and all(e["agent"][2]["who"]["reference"] == AGENCY_A
                                  for e in mine)
    assert len(audit_events(auditor, f"&patient={p3}&agent={AGENCY_A}")) == 1
    assert len(audit_events(auditor, f"&patient={world['patient3']['id']}&agent={AGENCY_A}")) == 1
    # the hub's own writes of patient 3 (its Patient, Task, ServiceRequest) are there too
    assert len(audit_events(auditor, f"&patient={p3}")) == 4
    assert len(audit_events(auditor, f"&entity={p1}&agent={AGENCY_A}")) == 1
    now = datetime.utcnow()
    assert len(audit_events(auditor, f"&agent={AGENCY_A}&date=ge"
                                f"{(now - timedelta(minutes=5)).isoformat()}Z")) == 2
    assert audit_events(auditor, f"&date=lt{(now - timedelta(days=1)).date()}") == []
    one = mine[0]
    assert auditor.get(f"/fhir/AuditEvent/{one['id']}").get_json() == one


def test_audit_log_is_append_only_and_for_auditors_only(world, fhir, fhir_as, agency_a,
                                                        auditor):
    agency_a.get(f"/fhir/{ref(world['patient1'])}")
    (one,) = audit_events(auditor, f"&agent={AGENCY_A}")
    url = f"/fhir/AuditEvent/{one['id']}"
    writer = fhir_as("system/AuditEvent.cruds")
    assert writer.put(url, {**one, "outcome": "0"}).status_code == 405
    assert writer.delete(url).status_code == 405
    assert writer.post("/fhir/AuditEvent", {k: v for k, v in one.items()
                                            if k != "id"}).status_code == 405
    assert writer.get(f"{url}/_history").status_code == 405
    # a partner never sees them, even with an AuditEvent scope; nor does a wildcard
    for client in (agency_a, fhir_as(AUDITOR, organization=AGENCY_A), fhir):
        assert client.get("/fhir/AuditEvent").status_code == 403
        assert client.get(url).status_code == 403
        assert client.get("/fhir/AuditEvent/no-such").status_code == 403
    assert auditor.get(url).get_json() == one


def test_one_insert_per_request_and_none_outside_the_write(app, world, fhir, agency_a):
    statements = []
    engine = app.extensions["hub.db"].engine

    def seen(conn, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        agency_a.get(f"/fhir/{ref(world['patient1'])}")
        reads = list(statements)
        statements.clear()
        resp = agency_a.post("/fhir/Encounter", {
            "resourceType": "Encounter", "status": "planned",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "HH"},
            "subject": {"reference": ref(world["patient2"])},
            "basedOn": [{"reference": ref(world["sr_a"])}],
            "serviceProvider": {"reference": AGENCY_A}})
        assert resp.status_code == 403
        refused = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    audit = [s for s in reads if "audit_events" in s]
    assert len(audit) == 1 and audit[0].startswith("insert")
    # the refused write: its rows rolled back, then one AuditEvent of the refusal
    assert len([s for s in refused if "audit_events" in s]) == 1
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        events, _ = audit_log.search(uow.session, entities=["Encounter"])
        refusals, _ = audit_log.search(uow.session, agents=[AGENCY_A])
    assert events == [] and refusals[0]["outcome"] == "4"
    assert refusals[0]["action"] == "C"


def test_retention_purge_and_siem_export(app, database_url, world, agency_a, tmp_path):
    agency_a.get(f"/fhir/{ref(world['patient1'])}")
    old = datetime.utcnow() - timedelta(days=400)
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        audit_log.record(uow.session, {"resourceType": "AuditEvent", "id": "old-1",
                                       "action": "R", "outcome": "0",
                                       "recorded": old.isoformat() + "Z"},
                         old, "c1", None, [], [])
        uow.commit()
    runner = CliRunner()
    out = tmp_path / "audit.ndjson"
    result = runner.invoke(main, ["--database-url", database_url, "audit", "export",
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["id"] == "old-1" and len(lines) >= 2
    assert all(e["resourceType"] == "AuditEvent" for e in lines)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    since = runner.invoke(main, ["--database-url", database_url, "audit", "export",
                                 "--since", (old + timedelta(days=1)).date().isoformat()])
    assert "old-1" not in since.output and since.output.count("\n") == len(lines) - 1
    purged = runner.invoke(main, ["--database-url", database_url, "audit", "purge",
                                  "--days", "365"])
    assert purged.exit_code == 0 and "purged 1 " in purged.output
    again = runner.invoke(main, ["--database-url", database_url, "audit", "export"])
    assert "old-1" not in again.output and again.output.count("\n") == len(lines) - 1


def test_an_audit_rows_content_is_the_events_compact_json():
    """The stored AuditEvent text is what ``json.dumps(event, separators=(",", ":"))``
    writes (non-ASCII escaped, nothing reordered), whatever encoder writes it."""
    from hub.audit import events as audit_events_
    from hub.audit.events import Access, RequestInfo

    access = Access()
    access.saw("read", "EpisodeOfCare/e1", {"patient": {"reference": "Patient/p1"}})
    recorded = datetime(2026, 12, 1, 9, 30)
    event, entities, patients = audit_events_.build(
        access, client_id="client-ü", organization="Organization/o1",
        request=RequestInfo(address="127.0.0.1", request_id="r-é", method="GET",
                            path="EpisodeOfCare/e1", query="a=1&b=ß", server="http://hub"),
        recorded=recorded, outcome="0", outcome_desc=None, interaction="read", user=None,
        identifiers={"EpisodeOfCare/e1": {"system": "urn:x", "value": "c-ü"}})
    row = audit_log.row(event, recorded, "client-ü", "Organization/o1", entities, patients)
    assert row["content"] == json.dumps(event, separators=(",", ":"))
    assert "\\u00fc" in row["content"] and json.loads(row["content"]) == event
