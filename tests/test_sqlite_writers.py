"""SQLite writers of one process take turns (``hub.store.sqlite_writers``): concurrent
writing transactions all commit, and the turn is given back however a transaction ends
(commit, rollback after an error, a connection returned or invalidated), so no writer is
left waiting. On a SQLite file of its own, whatever database the suite runs on."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from hub.fhirstore.tables import conditional_keys as CK
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.store.sqlite_writers import writer_turns


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def _row(key: str) -> dict:
    return {"res_type": "Patient", "query_key": key, "res_id": key}


def test_concurrent_writers_all_commit_and_the_turn_is_free_after(db):
    turns = writer_turns(db.engine)
    assert turns is not None and not turns.busy
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for k in range(10):
                with db.engine.begin() as conn:
                    conn.execute(insert(CK).values(**_row(f"w{n}-{k}")))
                    conn.execute(select(func.count()).select_from(CK)).scalar_one()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CK)).scalar_one() == 60
    assert not turns.busy


def test_the_turn_is_given_back_however_a_transaction_ends(db):
    turns = writer_turns(db.engine)
    with db.engine.begin() as conn:
        conn.execute(insert(CK).values(**_row("a")))
        assert turns.busy  # a writing transaction has it ...
    assert not turns.busy  # ... until its commit
    with db.engine.connect() as conn:
        conn.execute(select(CK)).all()
        assert not turns.busy  # reads never take it
        conn.execute(insert(CK).values(**_row("b")))
        conn.rollback()
    assert not turns.busy
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(insert(CK).values(**_row("a")))  # the primary key refuses it
    assert not turns.busy
    conn = db.engine.connect()
    conn.execute(text("DELETE FROM conditional_keys"))
    conn.close()  # returned to the pool with its transaction open: rolled back
    assert not turns.busy
    conn = db.engine.connect()
    conn.execute(insert(CK).values(**_row("c")))
    conn.invalidate()
    assert not turns.busy
    with db.engine.connect() as conn:
        assert sorted(conn.execute(select(CK.c.query_key)).scalars()) == ["a"]
