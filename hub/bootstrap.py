"""The runtime: settings, database, partner registry, adapters and post-delivery handlers,
built once per process by ``build_runtime``.

Everything that runs the hub gets them from here: ``create_app(runtime)`` (the Flask app),
``hub serve`` and its in-process worker thread, ``hub worker``, the Celery executor
(``hub.sync.celery_app``) and the other CLI commands. The partners live in one place, the
runtime's registry (``runtime.adapters``: the partners file, re-read when it changes, and
an adapter per partner); the flows' handlers are registered explicitly here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hub.config import Settings
from hub.fhirstore.identities import parse_systems
from hub.flows.handlers import register_handlers
from hub.projection import project_saved
from hub.store import id_key
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.subscriptions import matching as subscription_matching
from hub.subscriptions.spec import parse_prefixes
from hub.sync.handlers import Handlers
from hub.sync.registry import Adapters
from hub.sync.worker import Worker, WorkerThread, lease_for


@dataclass
class Runtime:
    """What one process of the hub runs on. ``adapters`` is the partner registry."""

    settings: Settings
    db: Database
    adapters: Adapters
    handlers: Handlers = field(default_factory=Handlers)
    #: The in-process worker thread (``hub serve``), once started.
    sync_worker: WorkerThread | None = None

    @property
    def partners(self) -> Mapping:
        """The configured partners, id -> ``hub.sync.partners.Partner`` (current file)."""
        return self.adapters.partners

    def use_adapters(self, adapters: Adapters) -> None:
        """Replace the partner registry (tests, fakes); the handlers see the new one."""
        self.adapters = adapters

    def worker(self, worker_id: str | None = None, **options) -> Worker:
        """A Worker on this runtime's database, partners and handlers; ``options`` go to
        Worker (policy, concurrency, pulls...). The lease defaults to ``lease_for`` the
        partners."""
        if options.get("lease_seconds") is None:
            options["lease_seconds"] = lease_for(self.partners)
        return Worker(self.db, self.adapters, worker_id, handlers=self.handlers, **options)

    def close(self) -> None:
        if self.sync_worker is not None:
            self.sync_worker.stop(10)
            self.sync_worker = None
        self.adapters.close()
        self.db.dispose()


def open_database(settings: Settings, *, migrate: bool | None = None) -> Database:
    """The database of ``settings``, its units of work projecting the cases they save;
    migrated when ``migrate`` (by default only SQLite, the hub's embedded database;
    PostgreSQL is migrated with ``hub db upgrade``)."""
    # absolute references to the hub's own FHIR base are local ones (search index)
    db = Database(settings.database_url, fhir_base=settings.public_base_url + "/fhir",
                  patient_systems=parse_systems(settings.patient_identifier_systems),
                  pool_size=settings.db_pool_size)
    db.case_projector = project_saved
    # every write queues the notifications of the Subscriptions it triggers, in its commit
    db.commit_observers.append(subscription_matching.on_commit)
    db.subscription_endpoints = parse_prefixes(settings.subscription_endpoints)
    db.subscription_max_failures = settings.subscription_max_failures
    if migrate if migrate is not None else db.is_sqlite:
        upgrade(settings.database_url)
    # every process (hub serve, hub worker, Celery, the CLI) derives the same resource ids,
    # under a key that keeps them from being derived from public data
    id_key.install(db, settings.id_key)
    return db


def build_runtime(settings: Settings | None = None, *, migrate: bool | None = None,
                  adapters: Adapters | None = None) -> Runtime:
    """Build the runtime of one process.

    :param settings: defaults to ``Settings.from_env()``.
    :param migrate: run the Alembic migrations (see ``open_database``).
    :param adapters: a ready partner registry (tests); default: the partners file.
    """
    settings = settings or Settings.from_env()
    db = open_database(settings, migrate=migrate)
    runtime = Runtime(settings, db, adapters or Adapters(
        partners_file=settings.partners_file or None))
    register_handlers(runtime.handlers, lambda: runtime.partners,
                      pended_poll_seconds=settings.pended_poll_seconds)
    if settings.sync_executor == "celery":
        # the Celery executor is woken after every commit that queued work (never raises;
        # the sweep covers a lost kick). Imported here: celery is only needed then.
        from hub.sync.celery_app import kick

        db.on_outbox_commit.append(kick)
    return runtime
