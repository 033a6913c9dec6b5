"""fhir-case-hub: FHIR R4 interoperability hub for medical case management.

``create_app`` is the only place wiring happens.
"""

from __future__ import annotations


from flask import Flask

from hub.config import Settings
from hub.modules import import_optional
from hub.projection import project_saved
from hub.store.db import Database

#: Components, each exposing a blueprint ``bp`` and/or ``init_app(app)``.
COMPONENTS = (
    "hub.routes.errors",
    "hub.routes.health",
    "hub.routes.auth",
    "hub.routes.cases",
    "hub.routes.fhir",
    "hub.inbound",
    "hub.routes.coverage",
    "hub.routes.admin",
    "hub.routes.notifications",
)


def create_app(settings: Settings | None = None, *, migrate: bool | None = None) -> Flask:
    """Build the WSGI app.

    :param settings: defaults to ``Settings.from_env()``.
    :param migrate: run the Alembic migrations on start; by default only for SQLite, where
        the hub owns its embedded database (PostgreSQL is migrated with ``hub db upgrade``).
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    db = Database(settings.database_url)
    db.case_projector = project_saved  # units of work project the cases they save
    if migrate if migrate is not None else db.is_sqlite:
        from hub.store.migrate import upgrade

        upgrade(settings.database_url)
    app.extensions["hub.settings"] = settings
    app.extensions["hub.db"] = db
    from hub.sync.registry import Adapters

    # the partners file, re-read when it changes; routes queue deliveries for its partners
    app.extensions["hub.adapters"] = Adapters(partners_file=settings.partners_file or None)
    if settings.sync_executor == "celery":
        from hub.sync.celery_app import kick

        db.on_outbox_commit.append(kick)  # never raises; the sweep covers a lost kick
    for name in COMPONENTS:
        module = import_optional(name)
        if module is None:
            continue
        if hasattr(module, "init_app"):
            module.init_app(app)
        if hasattr(module, "bp"):
            app.register_blueprint(module.bp)
    return app
