"""The unit of work: one database transaction for one write, all of it or none of it.

It is also the one save path of a case (the "seen" pattern): ``save_case`` stores the case
with a compare-and-set on its expected version and remembers it; ``commit`` first projects
every case saved in this unit of work into the FHIR store and the outbox (the projector
the runtime gives it, ``hub.projection.project_saved``), then commits the database
transaction, so the case change, its new resource versions and its outbox rows commit
together or not at all. The store imports no projection: the projector is injected.

A new case (``add_case``) is checked at once (``OpenCaseExists``) but its rows are written
later, by ``write_added_cases``: the projection calls it once it has built the case's
resource versions, just before writing them, so SQLite's one write lock, taken by a
transaction's first INSERT, is not held while they are built. Whatever needs the case's
rows before (the case repository, rows referring to the case) writes them first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hub.cases import Case
from hub.fhirstore.repository import ResourceRepository
from hub.store import leases
from hub.store.case_repo import CaseRepository, OpenCaseExists
from hub.store.client_repo import ClientRepository
from hub.store.db import CASES_SAVED, Database
from hub.store.reading import ReadSession


@dataclass
class SavedCase:
    """A case saved in this unit of work and how to project it on commit.

    ``skip``: resources (type, id) not to rewrite (a partner has just written them and the
    case was updated from them); ``no_echo``: (partner id, type, id) to store but not send
    back (a partner's own change pulled from it); ``partners``: who to queue for, when not
    the unit of work's own partners."""

    case: Case
    skip: set[tuple[str, str]] = field(default_factory=set)
    no_echo: set[tuple[str, str, str]] = field(default_factory=set)
    partners: Mapping | None = None


#: ``project(uow, saved)``: the case's changed resources into the FHIR store + outbox.
Projector = Callable[["UnitOfWork", SavedCase], Any]


class UnitOfWork:
    """``with UnitOfWork(db) as uow: ...; uow.commit()``; leaving without commit rolls back.

    Repositories are opened lazily on the same session, so a case change, its FHIR
    resource versions and its outbox rows share one transaction. ``project`` defaults to
    the database's ``case_projector`` (set once by the runtime).
    """

    def __init__(self, db: Database, partners=None, *, project: Projector | None = None,
                 read_only: bool = False) -> None:
        self.db = db
        #: a read: its statements run on the connection, without an ORM session
        #: (``hub.store.reading``); ``commit`` refuses
        self.read_only = read_only
        #: The configured partners (id -> hub.sync.partners.Partner) writes are queued for.
        self.partners = partners or {}
        self.project = project
        self._session: Session | None = None
        self._leased: Connection | None = None
        #: Cases saved and not yet projected, by id (the "seen" set).
        self.saved: dict[str, SavedCase] = {}
        #: New cases whose rows are not written yet (``add_case``), by id.
        self._added: dict[str, Case] = {}

    def __enter__(self) -> UnitOfWork:
        # the request's connection when it is free (``hub.store.leases``), else the pool's
        self._leased = leases.take(self.db.engine)
        if self.read_only:
            conn = self._leased if self._leased is not None else self.db.engine.connect()
            # the repositories' ``Session`` type: a read uses only what ReadSession has
            self._session = cast(Session, ReadSession(conn, self.db.sessions.kw["info"]))
        else:
            self._session = (self.db.sessions(bind=self._leased) if self._leased is not None
                             else self.db.sessions())
        self.saved, self._added = {}, {}
        return self

    def __exit__(self, *exc) -> None:
        if self.read_only:
            self._end_read()
            return
        try:
            self.session.rollback()
        finally:
            self.saved, self._added = {}, {}
            try:
                self.session.close()
            finally:
                if self._leased is not None:
                    leases.give_back(self._leased)
                    self._leased = None

    def _end_read(self) -> None:
        conn = self.session.connection()
        self._session = None
        if self._leased is not None:  # rolls back what the read began
            self._leased = None
            leases.give_back(conn)
        else:
            conn.close()  # the pool's reset on return rolls back

    @property
    def session(self) -> Session:
        """The transaction's session (inside the ``with`` block)."""
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its with block")
        return self._session

    # -- the one save path of a case --

    def add_case(self, case: Case, **projection) -> None:
        """Add a new case at its current version; written and projected on commit.

        ``OpenCaseExists`` now if the patient has an open case in the case's program,
        stored or added before in this unit of work; the case's rows are written by
        ``write_added_cases`` (see the module)."""
        repo = self._repo("cases", CaseRepository)
        key = repo.open_key(case)
        if key is not None:
            for other in self._added.values():
                if repo.open_key(other) == key:
                    raise OpenCaseExists(other.id, case.program)
        repo.check_open(case)
        self._added[case.id] = case
        self._seen(case, **projection)

    def unwritten(self, case_id: str) -> bool:
        """Whether ``case_id`` was added in this unit of work and its rows are not written
        yet (then nothing in the store refers to it)."""
        return case_id in self._added

    def write_added_cases(self) -> None:
        """Write the rows of the cases added and not written yet (``add_case``)."""
        repo = self._repo("cases", CaseRepository)
        while self._added:
            repo.add(self._added.pop(next(iter(self._added))), checked=True)

    def save_case(self, case: Case, expected_version: int | None = None, **projection) -> None:
        """Store ``case`` at the next version if the stored one is still at
        ``expected_version`` (default: the version it was read at); projected on commit.

        Raises ``StaleCase`` (someone else was first; the case keeps its version) or
        ``CaseMissing``. ``projection``: ``skip``, ``no_echo``, ``partners`` (``SavedCase``).
        """
        expected = case.version if expected_version is None else expected_version
        self.write_added_cases()  # a case added in this unit of work is stored first
        case.version = expected + 1
        try:
            self.cases.update(case, expected_version=expected)
        except Exception:
            case.version = expected
            raise
        self._seen(case, **projection)

    def _seen(self, case: Case, skip=(), no_echo=(), partners: Mapping | None = None) -> None:
        # what the transaction changed, for the commit observers (kept after projection)
        self.session.info.setdefault(CASES_SAVED, {})[case.id] = case
        entry = self.saved.get(case.id)
        if entry is None:
            entry = self.saved[case.id] = SavedCase(case)
        entry.case = case
        entry.skip |= set(skip)
        entry.no_echo |= set(no_echo)
        if partners is not None:
            entry.partners = partners

    def flush(self) -> None:
        """Project the cases saved so far now, inside the transaction (for a flow that
        reads their projected resources before committing); ``commit`` does it anyway."""
        if not self.saved:
            return
        project = self.project or self.db.case_projector
        if project is None:
            raise RuntimeError("no case projector: the runtime sets Database.case_projector "
                               "(or pass UnitOfWork(project=...))")
        while self.saved:  # in the order they were first saved
            project(self, self.saved.pop(next(iter(self.saved))))
        self.write_added_cases()  # the projector writes them before its versions

    def commit(self) -> None:
        """Project the saved cases, then commit the transaction (both or neither)."""
        if self.read_only:
            raise RuntimeError("a read-only unit of work commits nothing")
        self.flush()
        self.session.commit()

    def rollback(self) -> None:
        self.saved, self._added = {}, {}
        if self.read_only:
            self.session.connection().rollback()
        else:
            self.session.rollback()

    # -- repositories --

    @property
    def cases(self):
        """The case repository, on a store that holds the cases added so far."""
        self.write_added_cases()
        return self._repo("cases", CaseRepository)

    @property
    def clients(self):
        return self._repo("clients", ClientRepository)

    @property
    def resources(self):
        return self._repo("resources", ResourceRepository)

    def _repo(self, name: str, cls):
        repos = self.__dict__.setdefault("_repos", {})
        if name not in repos:
            repos[name] = cls(self.session)
        return repos[name]
