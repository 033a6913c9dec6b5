"""Issue 9 item 8 in the sync worker: a database error met while delivering (or while
applying a partner's answer) is logged and stored as its type, SQLSTATE and constraint,
never its message: PostgreSQL's DETAIL quotes the row (``Key (...)=(<family name>)``).

The failures are real: a statement the database under test refuses because of a planted
family name already stored under the same key. Every log record the worker writes (any
logger, any level, tracebacks included) and the stored ``last_error`` are searched for it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.adapters.fhir_rest import FhirResponse
from hub.fhirstore.tables import patient_identities
from hub.store.db import Database
from hub.store.sync_tables import outbox as outbox_table
from hub.sync import outbox
from hub.sync.handlers import Handlers
from hub.sync.retry import RetryPolicy
from hub.sync.worker import Worker

FAMILY = "Zyxwvutsrq-Plant"
SYSTEM = "urn:test:family"


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    with database.engine.begin() as conn:
        conn.execute(outbox_table.delete())
        conn.execute(patient_identities.delete())
    yield database
    with database.engine.begin() as conn:
        conn.execute(outbox_table.delete())
        conn.execute(patient_identities.delete())
    database.dispose()


def _store_twice(db: Database) -> None:
    """The failing statement: the planted name under a key that is already taken."""
    row = {"system": SYSTEM, "value": FAMILY, "patient_id": "p-1"}
    with db.engine.begin() as conn:
        conn.execute(sa.insert(patient_identities), [row])
    with db.engine.begin() as conn:
        conn.execute(sa.insert(patient_identities), [row])


def _raw_message(db: Database) -> str:
    """What the database says about that statement (PostgreSQL quotes the family)."""
    with pytest.raises(sa.exc.IntegrityError) as caught:
        _store_twice(db)
    with db.engine.begin() as conn:
        conn.execute(patient_identities.delete())
    return str(caught.value)


class _Adapter:
    """The partner side of a pull-like delivery whose write into the hub fails."""

    def __init__(self, db):
        self.db = db

    def create(self, resource, if_none_exist=None):
        _store_twice(self.db)


class _Adapters(dict):
    """Partner id -> adapter, as ``hub.sync.registry.Adapters`` answers ``get``."""


def _enqueue(db: Database) -> int:
    payload = {"resourceType": "Patient", "name": [{"family": FAMILY}],
               "identifier": [{"system": SYSTEM, "value": FAMILY}]}
    with db.sessions() as session:
        row_id = outbox.enqueue(session, partner_id="p", case_id="c", resource_type="Patient",
                                resource_id="p-1", operation="create", payload=payload,
                                options={"if_none_exist": f"identifier={SYSTEM}|x"})
        session.commit()
    return row_id


def _row(db: Database, row_id: int):
    with db.sessions() as session:
        return outbox.get_delivery(session, row_id)


def test_a_database_error_during_a_delivery_is_logged_without_its_detail(db, records):
    if db.engine.dialect.name == "postgresql":
        assert FAMILY in _raw_message(db)  # the leak this test guards against is real
    row_id = _enqueue(db)
    worker = Worker(db, _Adapters(p=_Adapter(db)), "w-privacy",
                    policy=RetryPolicy(max_attempts=1), concurrency=1)
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
    failed = _row(db, row_id)
    assert failed.status == "dead"
    assert "IntegrityError" in failed.last_error and FAMILY not in failed.last_error
    text = records.text()
    assert "IntegrityError" in text and "delivery #" in text
    if db.engine.dialect.name == "postgresql":
        assert "SQLSTATE 23505" in failed.last_error
        assert "constraint pk_patient_identities" in failed.last_error
    assert FAMILY not in text


def test_a_database_error_applying_an_answer_is_logged_without_its_detail(db, records):
    handlers = Handlers()
    handlers.register("create", "Patient", lambda db_, delivery, outcome: _store_twice(db))

    class Accepting:
        """A partner that stores the Patient (201 with Location)."""

        def create(self, resource, if_none_exist=None):
            return FhirResponse(201, location="http://partner.test/fhir/Patient/r1/_history/1")

    row_id = _enqueue(db)
    worker = Worker(db, _Adapters(p=Accepting()), "w-privacy", handlers=handlers,
                    concurrency=1)
    try:
        assert worker.run_once() == 1
    finally:
        worker.close()
    assert _row(db, row_id).status == "done"
    text = records.text()
    assert "applying the partner's answer failed" in text and "IntegrityError" in text
    assert "_store_twice" in text  # where it happened is kept
    assert FAMILY not in text
