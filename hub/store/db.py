"""Engine, metadata and the database handle the app keeps in ``app.extensions``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.extras import MissingExtra
from hub.fhirjson import codec
from hub.store import leases
from hub.store.sqlite_writers import WriterTurns

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: All tables of the hub hang off this metadata (see hub/store/tables.py).
metadata = MetaData(naming_convention=NAMING)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL and in-memory databases)."""
    if not url.startswith("sqlite") or ":///" not in url:
        return None
    name = url.split(":///", 1)[1].split("?", 1)[0]
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        return None
    return Path(name)


def create_private_file(path: Path) -> None:
    """Create ``path`` readable and writable by its owner only (0600) unless it exists;
    SQLite gives its -wal and -shm files the mode of the database file."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


#: Connections kept open per process (PostgreSQL): at least the threads that serve
#: requests (``hub serve``: waitress threads=8) plus the sync worker, so that a busy moment
#: does not open and close overflow connections on every request (HUB_DB_POOL_SIZE).
DEFAULT_POOL_SIZE = 10


def make_engine(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL (synchronous FULL), a busy
    timeout and writers that take turns (``hub.store.sqlite_writers``).

    SQLite durability: WAL with ``synchronous=FULL`` (set explicitly; also SQLite's
    default): every commit syncs the WAL before it returns, so an acknowledged write
    survives a power loss. ``synchronous=NORMAL`` would sync only at checkpoints: faster,
    still consistent after a crash, but the last commits before a power loss can be lost,
    so it is not used. The cost of the sync per commit is shared by grouping: the
    AuditEvents of concurrent reads commit together (``hub.audit.group``).

    Statement parameters are patient data: ``hide_parameters`` keeps them out of every
    exception message and log line SQLAlchemy writes. JSON columns (outbox payloads and
    responses, case documents) are written and read with ``hub.fhirjson.codec``: a decimal
    is kept as written (``105.00`` stays ``105.00``; PostgreSQL's ``json`` type, unlike
    ``jsonb``, keeps the text as sent).
    """
    json_args: dict[str, Any] = {"json_serializer": codec.dumps,
                                 "json_deserializer": codec.loads}
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None and path.parent.is_dir():
            create_private_file(path)
        # a file: as many pooled connections as PostgreSQL's (a request holds one for its
        # whole length, ``hub.store.leases``; past the pool, connections are opened and
        # closed on every request)
        pool_args = {} if path is None else {"pool_size": pool_size,
                                             "max_overflow": pool_size}
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               hide_parameters=True, **pool_args, **json_args)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url:
                cur.execute("PRAGMA journal_mode=WAL")
                # FULL: each commit syncs the WAL before returning, so a write the hub has
                # acknowledged (a 201, an outbox row, a delivery recorded done) survives a
                # power loss. NORMAL would sync only at checkpoints: faster commits, but
                # the last ones may be lost (bench/README.md, "SQLite settings").
                cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        if ":memory:" not in url:  # writers take turns (hub.store.sqlite_writers)
            turns = WriterTurns(timeout=30)
            turns.install(engine)
            engine.hub_writer_turns = turns  # type: ignore[attr-defined]
        return engine
    try:
        # pooled connections are pinged at checkout as ``pool_pre_ping`` would, except the
        # request's client check's (``hub.store.leases``: it runs again on a dropped one)
        engine = create_engine(url, hide_parameters=True, pool_size=pool_size,
                               max_overflow=pool_size, **json_args)
    except ModuleNotFoundError as exc:  # the database's driver is not installed
        if url.startswith("postgresql"):
            raise MissingExtra("PostgreSQL", "postgres", exc.name) from exc
        raise
    leases.install_checkout_ping(engine)
    return engine


#: Session.info key of the hub's own FHIR base URL (``<public base>/fhir``): absolute
#: references under it are local ones (see ``hub.fhirstore.searchparams.reference_target``).
FHIR_BASE = "hub.fhir_base"

#: Session.info key: the MRN systems that identify a patient (``hub.fhirstore.identities``).
PATIENT_SYSTEMS = "hub.patient_identifier_systems"

#: Session.info key set by a write that queued outbox rows (see ``Database.on_outbox_commit``).
OUTBOX_WRITTEN = "hub.outbox_written"

#: Session.info key: the resource versions written in the transaction (``ResourceChange``),
#: for the commit observers (``Database.commit_observers``).
RESOURCE_CHANGES = "hub.resource_changes"

#: Session.info key: the cases saved in the transaction (id -> Case, ``UnitOfWork``), for the
#: commit observers (the AuditEvent of a case write, ``hub.routes.audit_http``).
CASES_SAVED = "hub.cases_saved"


@dataclass(frozen=True)
class ResourceChange:
    """A resource version written: the previous content (None: none, or deleted) and the
    new one (None: a deletion)."""

    type: str
    id: str
    version: int
    before: dict | None
    after: dict | None


class Database:
    """The engine and session factory of one app."""

    def __init__(self, url: str, fhir_base: str | None = None,
                 patient_systems: tuple[str, ...] | None = None,
                 pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        #: the hub's FHIR base URL, if known: references to it are local (``FHIR_BASE``)
        self.fhir_base = fhir_base.rstrip("/") if fhir_base else None
        self.sessions: sessionmaker[Session] = sessionmaker(
            self.engine, expire_on_commit=False, info={FHIR_BASE: self.fhir_base,
                                               PATIENT_SYSTEMS: patient_systems})
        #: Called after each commit that queued outbox rows (wake or kick the executor).
        self.on_outbox_commit: list = []
        #: Projects a case saved in a unit of work into the FHIR store and the outbox on
        #: commit (``hub.projection.project_saved``); set once by the runtime.
        self.case_projector: Callable[..., Any] | None = None
        #: Called with the session just before each commit, in the transaction (they may
        #: write): the subscriptions' matching of ``RESOURCE_CHANGES``; set by the runtime.
        self.commit_observers: list[Callable[[Session], Any]] = []
        #: URL prefixes Subscription endpoints must start with (``HUB_SUBSCRIPTION_ENDPOINTS``).
        self.subscription_endpoints: tuple[str, ...] = ()
        #: Consecutive failed attempts after which a subscription is ``error``.
        self.subscription_max_failures: int = 3
        event.listen(self.sessions, "before_commit", self._before_commit)
        event.listen(self.sessions, "after_commit", self._after_commit)
        event.listen(self.sessions, "after_rollback", self._after_rollback)

    def _before_commit(self, session: Session) -> None:
        for observer in self.commit_observers:
            observer(session)
        session.info.pop(RESOURCE_CHANGES, None)
        session.info.pop(CASES_SAVED, None)

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop(OUTBOX_WRITTEN, None)
        session.info.pop(RESOURCE_CHANGES, None)
        session.info.pop(CASES_SAVED, None)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(OUTBOX_WRITTEN, False):
            for callback in self.on_outbox_commit:
                callback()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()
