"""The outbox rows of a test's database, for the tests' assertions."""

from __future__ import annotations

from sqlalchemy import select

from hub.store.sync_tables import outbox


def outbox_rows(db, **where) -> list:
    """The outbox rows (in id order) whose columns equal ``where``'s values."""
    with db.engine.connect() as conn:
        stmt = select(outbox).order_by(outbox.c.id)
        for key, value in where.items():
            stmt = stmt.where(outbox.c[key] == value)
        return conn.execute(stmt).all()
