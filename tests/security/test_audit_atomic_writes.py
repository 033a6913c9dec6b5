"""Issue 9.6: the AuditEvent of a case-API write is committed with the change or not at
all. It is inserted in the write's own transaction, so a failure anywhere between the
change and the commit leaves neither, and a write whose record cannot be inserted is not
committed (500; the case is unchanged). A refused or failed write is recorded afterwards
(outcome 4 or 8), with nothing changed. Failures are injected at the database boundary:
an insert into the audit table that fails, and a commit that fails after both statements
ran.
"""

from __future__ import annotations

import pytest
from case_data import minimal
from sqlalchemy import event

from hub.mappings.identity import resource_id
from hub.store.uow import UnitOfWork

AUDITOR = "system/AuditEvent.rs"


class Injected(RuntimeError):
    """The failure a test plants."""


@pytest.fixture
def api(app, client, auth_headers):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a failure is answered 500, as in production
    hdr = auth_headers("system/Case.cruds")
    resp = client.post("/api/cases", json=minimal(), headers=hdr)
    assert resp.status_code == 201, resp.get_json()
    return hdr, resp.get_json()


def _note(client, hdr, case) -> int:
    return client.post(f"/api/cases/{case['id']}/notes", json={"text": "called back"},
                       headers=hdr).status_code


def _case(app, case_id):
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        return uow.cases.get(case_id)


def _events(client, auth_headers, case_id) -> list[dict]:
    episode = f"EpisodeOfCare/{resource_id(case_id, 'case')}"
    resp = client.get(f"/fhir/AuditEvent?entity={episode}&_count=100",
                      headers=auth_headers(AUDITOR))
    assert resp.status_code == 200
    return sorted((e["resource"] for e in resp.get_json().get("entry", [])),
                  key=lambda e: e["recorded"])


def _updates(events) -> list[str]:
    return [e["outcome"] for e in events if e["subtype"][0]["code"] == "update"]


def test_a_write_and_its_audit_event_are_committed_together(app, client, auth_headers, api):
    hdr, case = api
    steps: list[str] = []

    def statement(conn, cursor, sql, params, context, executemany):
        head = sql.lstrip().upper()
        if head.startswith("UPDATE CASES"):
            steps.append("case")
        elif head.startswith("INSERT INTO AUDIT_EVENTS"):
            steps.append("audit")

    def commit(conn):
        steps.append("commit")

    engine = app.extensions["hub.db"].engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        assert _note(client, hdr, case) == 201
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    # the case change and its record, then one commit: no commit between them
    written = steps[steps.index("case"):]
    assert written[:written.index("commit") + 1] == ["case", "audit", "commit"], steps
    assert steps.count("audit") == 1
    assert _case(app, case["id"]).version == case["version"] + 1
    assert _updates(_events(client, auth_headers, case["id"])) == ["0"]  # exactly one


def test_a_write_whose_audit_event_cannot_be_inserted_is_not_committed(
        app, client, auth_headers, api):
    hdr, case = api
    failures = []

    def fail_first_audit_insert(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS") and not failures:
            failures.append(statement)
            raise Injected("the audit log is unavailable")

    engine = app.extensions["hub.db"].engine
    event.listen(engine, "before_cursor_execute", fail_first_audit_insert)
    try:
        assert _note(client, hdr, case) == 500
    finally:
        event.remove(engine, "before_cursor_execute", fail_first_audit_insert)
    assert failures  # the record was attempted inside the write, and failed
    stored = _case(app, case["id"])
    assert stored.version == case["version"] and not stored.notes  # nothing changed
    # the failed request itself is recorded afterwards: 8, and no success
    assert _updates(_events(client, auth_headers, case["id"])) == ["8"]


def test_a_failure_after_the_change_and_its_record_leaves_neither(
        app, client, auth_headers, api):
    hdr, case = api
    db = app.extensions["hub.db"]
    seen: list[bool] = []

    def crash_before_commit(session):
        # runs after the audit observer: the change and its AuditEvent are both written
        seen.append(bool(session.info.get("hub.cases_saved")))
        raise Injected("the process died before the commit")

    db.commit_observers.append(crash_before_commit)
    try:
        assert _note(client, hdr, case) == 500
    finally:
        db.commit_observers.remove(crash_before_commit)
    assert seen and all(seen)
    stored = _case(app, case["id"])
    assert stored.version == case["version"] and not stored.notes
    assert _updates(_events(client, auth_headers, case["id"])) == ["8"]


def test_a_refused_write_is_recorded_after_with_nothing_changed(
        app, client, auth_headers, api):
    hdr, case = api
    stale = client.post(f"/api/cases/{case['id']}/transitions", json={"to": "assessment"},
                        headers={**hdr, "If-Match": 'W/"99"'})
    assert stale.status_code == 412
    assert _case(app, case["id"]).version == case["version"]
    assert _updates(_events(client, auth_headers, case["id"])) == ["4"]
