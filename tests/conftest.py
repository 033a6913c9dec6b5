"""Shared fixtures: one migrated database per test session, emptied between tests.

``HUB_TEST_DATABASE_URL`` selects the database (CI runs the suite on SQLite and on
PostgreSQL); by default a SQLite file in a temporary directory.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
from sqlalchemy import create_engine, text

from hub import create_app
from hub.config import Settings
from hub.store.migrate import upgrade
from hub.store.tables import metadata


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("HUB_TEST_DATABASE_URL")
    if url:
        if url.startswith("postgresql"):
            _reset_postgres(url)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hub.db'}"
    upgrade(url)
    return url


def _empty_tables(app) -> None:
    engine = app.extensions["hub.db"].engine
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name != "hub_id_key":  # the id key outlives tests, as it outlives restarts
                conn.execute(table.delete())


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret-" + "x" * 32,
                    base_url="http://hub.test", sync_worker=False)


@pytest.fixture
def app(settings):
    app = create_app(settings, migrate=False)
    app.config["TESTING"] = True
    _empty_tables(app)
    yield app
    app.extensions["hub.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth_headers(app, client):
    """Factory: ``auth_headers("system/*.cruds", organization=None)`` -> request headers.

    Registers a client with that scope (and organization) in the database and gets its
    token from ``POST /auth/token`` with client_secret_basic, as a partner would. Tokens
    are reused within a test for the same arguments.
    """
    import base64

    from hub.store.uow import UnitOfWork

    tokens: dict = {}

    def make(scope: str = "system/*.cruds", organization: str | None = None) -> dict:
        if (scope, organization) not in tokens:
            with UnitOfWork(app.extensions["hub.db"]) as uow:
                registered, secret = uow.clients.create(
                    f"test client {len(tokens) + 1}", scope, organization=organization)
                uow.commit()
            basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
            resp = client.post("/auth/token", data={"grant_type": "client_credentials",
                                                    "scope": scope},
                               headers={"Authorization": f"Basic {basic}"})
            assert resp.status_code == 200, resp.get_json()
            tokens[scope, organization] = resp.get_json()["access_token"]
        return {"Authorization": f"Bearer {tokens[scope, organization]}"}

    return make


@pytest.fixture
def make_app(settings):
    """Factory: an app on the test database with ``settings`` changed by ``overrides``
    (the security tests use small limits so that their probes stay cheap)."""
    made = []

    def make(**overrides):
        made_app = create_app(dataclasses.replace(settings, **overrides), migrate=False)
        made_app.config["TESTING"] = True
        made.append(made_app)
        return made_app

    yield make
    for made_app in made:
        made_app.extensions["hub.db"].dispose()
