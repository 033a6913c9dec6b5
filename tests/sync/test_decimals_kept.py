"""Decimals as written, all the way to the partner: ``105.00`` stored in the FHIR store
leaves in the outbox payload, and over HTTP, as ``105.00`` (not ``105.0``), on SQLite and on
PostgreSQL (whose ``json`` column keeps the text; ``jsonb`` would not). The partner is a
loopback FHIR server capturing the raw bytes it receives."""

from __future__ import annotations

from sqlalchemy import select

from hub.fhirjson import codec
from hub.fhirstore.repository import ResourceRepository
from hub.store.sync_tables import outbox as outbox_table
from hub.sync import outbox
from hub.sync.worker import Worker

from .conftest import FAST

TEXT = ('{"resourceType":"CarePlan","id":"cp-dec","status":"active","intent":"plan",'
        '"subject":{"reference":"Patient/p1"},"activity":[{"detail":{"status":"scheduled",'
        '"quantity":{"value":105.00,"unit":"mg","system":"http://unitsofmeasure.org",'
        '"code":"mg"},"dailyAmount":{"value":1.0e-3,"unit":"g",'
        '"system":"http://unitsofmeasure.org","code":"g"}}}]}')


def test_decimals_reach_the_partner_as_written(db, adapters, partner_app):
    with db.sessions() as session:  # stored as the hub stores FHIR writes, read back
        store = ResourceRepository(session)
        store.update("CarePlan", "cp-dec", codec.loads(TEXT))
        stored = store.read("CarePlan", "cp-dec")
        assert stored is not None
        row_id = outbox.enqueue(session, partner_id="st-marys", case_id="case-dec",
                                resource_type="CarePlan", resource_id="cp-dec",
                                operation="create", payload=stored.content,
                                resource_version=str(stored.version_id))
        session.commit()
    with db.engine.connect() as conn:  # the payload column holds the text as written
        raw = conn.execute(select(outbox_table.c.payload).where(
            outbox_table.c.id == row_id)).scalar_one()
        assert codec.dumps(raw).count("105.00") == 1
        text = conn.exec_driver_sql(
            f"SELECT {'payload::text' if db.engine.dialect.name == 'postgresql' else 'payload'}"
            f" FROM outbox WHERE id = {int(row_id)}").scalar_one()
        assert '"value":105.00' in text and '"value":1.0e-3' in text, text
    worker = Worker(db, adapters, "w-dec", policy=FAST, lease_seconds=30, concurrency=1)
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
    with db.sessions() as session:
        assert outbox.get_delivery(session, row_id).status == "done"
    sent = [b for b in partner_app.bodies if b"CarePlan" in b]
    assert len(sent) == 1
    assert b'"value":105.00' in sent[0] and b'"value":1.0e-3' in sent[0], sent[0]
