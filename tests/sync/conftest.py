"""Fixtures of the sync tests: the sync tables emptied, a loopback partner, fast policies."""

from __future__ import annotations

import pytest

from hub.projection import project_saved
from hub.store.db import Database
from hub.store.sync_tables import outbox, sync_cursors, sync_links
from hub.sync.partners import Partner, Timeouts
from hub.sync.registry import Adapters
from hub.sync.retry import RetryPolicy

from .partner_server import FhirPartner, PartnerServer

#: Backoff in milliseconds, so retry tests finish quickly.
FAST = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05)


def empty_sync_tables(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in (outbox, sync_links, sync_cursors):
            conn.execute(table.delete())


@pytest.fixture
def db(database_url):
    """The test database with empty sync tables (independent of the app's blueprints)."""
    database = Database(database_url)
    database.case_projector = project_saved  # as the runtime wires it
    empty_sync_tables(database)
    yield database
    database.dispose()


@pytest.fixture
def partner_app():
    return FhirPartner()


@pytest.fixture
def partner_server(partner_app):
    server = PartnerServer(partner_app).start()
    yield server
    server.stop()


def loopback_partner(server: PartnerServer, partner_id: str = "st-marys", *,
                     read_timeout: float = 2.0) -> Partner:
    return Partner(id=partner_id, kind="hospital", base_url=server.base_url,
                   receives=("CarePlan", "CareTeam"),
                   timeouts=Timeouts(connect=1.0, read=read_timeout))


@pytest.fixture
def adapters(partner_server):
    registry = Adapters({"st-marys": loopback_partner(partner_server)})
    yield registry
    registry.close()
