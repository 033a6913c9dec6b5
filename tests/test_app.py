"""The app factory and the unauthenticated health check."""

from hub import create_app
from hub.config import Settings


def test_healthz_answers_without_auth(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "database": "up"}


def test_unknown_route_is_json_problem_outside_fhir(client):
    resp = client.get("/nope")
    assert resp.status_code == 404
    assert resp.get_json()["status"] == 404


def test_unknown_route_under_fhir_is_operation_outcome(client):
    resp = client.get("/fhir/nope/a/b/c")
    assert resp.status_code == 404
    assert resp.mimetype == "application/fhir+json"
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_settings_from_env_reads_hub_variables():
    s = Settings.from_env({"HUB_DATABASE_URL": "sqlite://", "HUB_PORT": "9000",
                           "HUB_SYNC_WORKER": "false"})
    assert (s.database_url, s.port, s.sync_worker) == ("sqlite://", 9000, False)
    assert s.host == "127.0.0.1"


def test_embedded_sqlite_is_migrated_on_start(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(Settings(database_url=url))
    assert app.test_client().get("/healthz").status_code == 200
    from sqlalchemy import inspect

    assert "alembic_version" in inspect(app.extensions["hub.db"].engine).get_table_names()


def test_sync_executor_is_validated():
    import pytest

    with pytest.raises(ValueError, match="HUB_SYNC_EXECUTOR"):
        Settings.from_env({"HUB_SYNC_EXECUTOR": "cron"})


def test_celery_executor_is_kicked_after_outbox_commits(tmp_path):
    from hub.sync.celery_app import kick

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}",
                              sync_executor="celery"))
    assert app.extensions["hub.db"].on_outbox_commit == [kick]
