"""Reads share the commit of their AuditEvents (hub.audit.group) and lose none of them.

Real database (SQLite or PostgreSQL per HUB_TEST_DATABASE_URL), real threads; nothing
about timing is asserted: only that every row handed in is committed when ``record``
returns, that a batch's failure reaches each of its requests, and that concurrent FHIR
reads and case-API reads each leave their AuditEvent.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from datetime import datetime

import pytest
from case_data import minimal
from sqlalchemy import String, cast, event, func, select

from hub.audit.group import GroupCommit, group_commit
from hub.audit.log import INSERT, MULTI_ROW_MAX, audit_events
from hub.mappings.identity import resource_id
from hub.store import leases
from hub.store.sqlite_writers import writer_turns


def _row(n: int) -> dict:
    return {"id": str(uuid.uuid4()), "recorded": datetime(2026, 1, 1, 0, 0, n % 60),
            "action": "R", "outcome": "0", "agents": " c ", "entities": " Task/x ",
            "patients": " ", "content": "{}"}


def _count(db) -> int:
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_events)).scalar_one()


def test_every_row_is_committed_when_record_returns(app):
    db = app.extensions["hub.db"]
    batches: list[int] = []
    committer = GroupCommit(db)
    committer.on_batch = batches.append
    seen_after: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        row = _row(n)
        committer.record(row)
        with db.engine.connect() as conn:  # visible to another connection: committed
            found = conn.execute(select(audit_events.c.id).where(
                audit_events.c.id == row["id"])).first() is not None
        with lock:
            seen_after.append((row["id"], found))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(seen_after) == 24
    assert all(found for _, found in seen_after)
    assert sum(batches) == 24 and _count(db) == 24


def test_a_failed_batch_fails_each_of_its_requests(app):
    db = app.extensions["hub.db"]
    committer = GroupCommit(db)
    row = _row(1)
    committer.record(row)
    with pytest.raises(Exception):  # noqa: B017 - the database's own IntegrityError
        committer.record(dict(row))  # the same id again: the primary key refuses it
    committer.record(_row(2))  # the next batch is written normally
    assert _count(db) == 2


def test_a_batch_is_stored_as_sqlalchemys_insert_stores_it(app):
    """The batch goes to the driver directly (SQLite: executemany and COMMIT; PostgreSQL:
    one multi-row INSERT): the stored values, the text of ``recorded`` included (with and
    without microseconds), are those of ``INSERT``."""
    db = app.extensions["hub.db"]
    rows = [{**_row(n), "recorded": datetime(2026, 3, 4, 5, 6, 7, micro),
             "content": json.dumps({"resourceType": "AuditEvent", "n": "é\u2028"}),
             "patients": " Patient/ü "} for n, micro in ((1, 0), (2, 123456))]
    GroupCommit(db).record(rows[0])
    GroupCommit(db).record(rows[1])
    mirrored = [{**row, "id": row["id"] + "-sa"} for row in rows]
    with db.engine.begin() as conn:
        conn.execute(INSERT, mirrored)
    with db.engine.connect() as conn:
        stored = {r.id: r for r in conn.execute(
            select(audit_events, cast(audit_events.c.recorded, String).label("text")))}
    for row, twin in zip(rows, mirrored, strict=True):
        assert {k: getattr(stored[row["id"]], k) for k in row} == row
        assert stored[row["id"]].text == stored[twin["id"]].text


def test_batches_of_every_size_store_each_row_once_as_given(app):
    """A batch of several rows, and one past the statements built once (PostgreSQL:
    ``MULTI_ROW_MAX``, then ``INSERT.values(rows)``), keeps every row with its values."""
    db = app.extensions["hub.db"]
    committer = GroupCommit(db)
    for size in (2, 3, MULTI_ROW_MAX, MULTI_ROW_MAX + 1):
        rows = [{**_row(n), "recorded": datetime(2026, 3, 4, 5, 6, 7, n), "outcome": str(n % 9),
                 "content": json.dumps({"n": n})} for n in range(size)]
        committer._write(rows)
        with db.engine.connect() as conn:
            stored = {r.id: r._asdict() for r in conn.execute(
                select(audit_events).where(audit_events.c.id.in_([r["id"] for r in rows])))}
        assert stored == {row["id"]: row for row in rows}


def test_a_failed_batch_keeps_none_of_its_rows_and_frees_the_connection(app):
    db = app.extensions["hub.db"]
    committer = GroupCommit(db)
    taken = _row(1)
    committer.record(taken)
    with leases.lease(db.engine):
        with pytest.raises(Exception):  # noqa: B017 - the database's own IntegrityError
            committer._write([_row(2), dict(taken)])  # the second repeats an id
        with leases.connection(db.engine) as conn:  # handed back with nothing open
            assert not conn.in_transaction()
    turns = writer_turns(db.engine)
    assert turns is None or not turns.busy  # the writer turn given back
    assert _count(db) == 1
    committer.record(_row(3))  # the next batch is written normally
    assert _count(db) == 2


def test_the_batch_is_seen_by_the_engines_listeners_and_holds_the_writer_turn(app):
    db = app.extensions["hub.db"]
    turns = writer_turns(db.engine)
    seen: list[tuple[str, bool | None]] = []

    def statement(_conn, _cursor, text, *_args) -> None:
        seen.append((text.split("(")[0].strip(), turns.busy if turns else None))

    def committed(_conn) -> None:
        seen.append(("commit", turns.busy if turns else None))

    event.listen(db.engine, "before_cursor_execute", statement)
    event.listen(db.engine, "commit", committed)
    try:
        GroupCommit(db).record(_row(1))
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
        event.remove(db.engine, "commit", committed)
    held = turns is not None or None
    assert ("INSERT INTO audit_events", held) in seen
    if db.is_sqlite:  # given back just before the commit, as for every writer
        assert seen[-1] == ("commit", False)
    assert turns is None or not turns.busy


def test_one_group_commit_per_database(app):
    db = app.extensions["hub.db"]
    assert group_commit(db) is group_commit(db)


def test_concurrent_reads_each_leave_their_audit_event(app, client, auth_headers):
    headers = {**auth_headers(), "Content-Type": "application/fhir+json"}
    created = client.post("/fhir/Patient", headers=headers, json={
        "resourceType": "Patient", "name": [{"family": "Okafor"}]})
    assert created.status_code == 201
    pid = created.get_json()["id"]
    before = _count(app.extensions["hub.db"])
    statuses: list[int] = []
    lock = threading.Lock()

    def read() -> None:
        local = app.test_client()
        for _ in range(5):
            resp = local.get(f"/fhir/Patient/{pid}", headers=headers)
            with lock:
                statuses.append(resp.status_code)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [200] * 30
    assert _count(app.extensions["hub.db"]) == before + 30
    with app.extensions["hub.db"].engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.entities).where(
            audit_events.c.action == "R")).scalars().all()
    assert sum(f" Patient/{pid} " in r for r in rows) == 30


def test_concurrent_case_reads_each_leave_one_audit_event_through_the_group_commit(
        app, client, auth_headers):
    hdr = auth_headers("system/Case.cruds")
    created = client.post("/api/cases", json=minimal(), headers=hdr)
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    db = app.extensions["hub.db"]
    before = _count(db)
    committer = group_commit(db)
    batches: list[int] = []
    committer.on_batch = batches.append
    answers: list[tuple[str, int]] = []
    lock = threading.Lock()

    def read(worker: int) -> None:
        local = app.test_client()
        for n in range(5):
            request_id = f"read-{worker}-{n}"
            resp = local.get(f"/api/cases/{case_id}",
                             headers={**hdr, "X-Request-Id": request_id})
            with lock:
                answers.append((request_id, resp.status_code))

    threads = [threading.Thread(target=read, args=(w,)) for w in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        committer.on_batch = None
    assert sorted(status for _, status in answers) == [200] * 30
    assert _count(db) == before + 30
    assert sum(batches) == 30  # every read's record went through the group commit
    episode = f"EpisodeOfCare/{resource_id(case_id, 'case')}"
    with db.engine.connect() as conn:
        contents = conn.execute(select(audit_events.c.content).where(
            audit_events.c.action == "R",
            audit_events.c.entities.like(f"% {episode} %"))).scalars().all()
    request_ids = Counter(
        x["what"]["identifier"]["value"]
        for event in map(json.loads, contents) for x in event.get("entity", [])
        if (x.get("what") or {}).get("identifier", {}).get("value", "").startswith("read-"))
    assert request_ids == Counter({request_id: 1 for request_id, _ in answers})
