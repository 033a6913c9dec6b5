"""The secret key of the hub's resource ids (``hub.mappings.identity.use_key``).

``HUB_ID_KEY`` when set; otherwise a random key kept in the single-row ``hub_id_key``
table, created by the first process to ask (insert-if-absent, then read what won), so that
``hub serve``, ``hub worker`` and Celery workers derive the same ids. Changing the key
changes the ids of resources produced from cases afterwards: keep it.
"""

from __future__ import annotations

import secrets

from sqlalchemy import CheckConstraint, Column, DateTime, Integer, Table, Text, select
from sqlalchemy.exc import SQLAlchemyError

from hub.clock import utcnow
from hub.mappings.identity import use_key
from hub.store.client_repo import _insert_ignoring_conflict
from hub.store.db import Database, metadata
from hub.store.uow import UnitOfWork

hub_id_key = Table(
    "hub_id_key", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("secret", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("id = 1", name="single_id_key_row"),
)


def load_or_create(db: Database) -> str:
    """The key in ``hub_id_key``, created by the first process to ask."""
    with UnitOfWork(db) as uow:
        query = select(hub_id_key.c.secret).where(hub_id_key.c.id == 1)
        key = uow.session.execute(query).scalar_one_or_none()
        if key is None:
            _insert_ignoring_conflict(uow.session, hub_id_key, {
                "id": 1, "secret": secrets.token_urlsafe(48),
                "created_at": utcnow()})
            key = uow.session.execute(query).scalar_one()
            uow.commit()
        return key


def install(db: Database, configured: str = "") -> bool:
    """Install the id key of this process; False when the database is not migrated yet
    (then ``hub db upgrade`` first: nothing is projected before)."""
    if configured:
        use_key(configured)
        return True
    try:
        use_key(load_or_create(db))
    except SQLAlchemyError:
        return False
    return True
