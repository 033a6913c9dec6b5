"""The unit of work: one database transaction for one write, all of it or none of it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.store.db import Database


class UnitOfWork:
    """``with UnitOfWork(db) as uow: ...; uow.commit()``; leaving without commit rolls back.

    Repositories are opened lazily on the same session, so a case change, its FHIR
    resource versions and its outbox rows share one transaction.
    """

    def __init__(self, db: Database, partners=None) -> None:
        self.db = db
        #: The configured partners (id -> hub.sync.partners.Partner) writes are queued for.
        self.partners = partners or {}
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        self.session = self.db.sessions()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    @property
    def cases(self):
        from hub.store.case_repo import CaseRepository

        return self._repo("cases", CaseRepository)

    @property
    def clients(self):
        from hub.store.client_repo import ClientRepository

        return self._repo("clients", ClientRepository)

    @property
    def resources(self):
        from hub.fhirstore.repository import ResourceRepository

        return self._repo("resources", ResourceRepository)

    def _repo(self, name: str, cls):
        repos = self.__dict__.setdefault("_repos", {})
        if name not in repos:
            repos[name] = cls(self.session)
        return repos[name]
