"""Sign-in providers: how a person proves who they are.

``LocalPasswordProvider`` checks a name and password against the ``users`` table. Another
provider (OIDC) would implement ``SignInProvider`` with a redirect flow; the console only
needs the resulting ``SignedIn``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from hub.store.db import Database
from hub.store.user_repo import UserRepository


@dataclass(frozen=True)
class SignedIn:
    """A person the provider vouched for."""

    name: str
    role: str
    provider: str


class SignInProvider(Protocol):
    """A way to sign in. ``id`` names it in the session and the audit log."""

    id: str

    def sign_in(self, credentials: dict[str, str]) -> SignedIn | None:
        """The person these credentials prove, or None."""
        ...

    def still_allowed(self, name: str) -> SignedIn | None:
        """The person's current role, or None once disabled or removed (every request)."""
        ...


class LocalPasswordProvider:
    """Name and password against the ``users`` table."""

    id = "local"

    def __init__(self, db: Database | Callable[[], Database]) -> None:
        self._db = db

    def _sessions(self):
        db = self._db() if callable(self._db) else self._db
        return db.sessions()

    def sign_in(self, credentials: dict[str, str]) -> SignedIn | None:
        name = (credentials.get("name") or "").strip()
        password = credentials.get("password") or ""
        if not name or not password:
            return None
        with self._sessions() as session:
            repo = UserRepository(session)
            user = repo.verify_password(name, password)
            if user is None:
                return None
            repo.record_sign_in(user.name)
            session.commit()
        return SignedIn(user.name, user.role, self.id)

    def still_allowed(self, name: str) -> SignedIn | None:
        with self._sessions() as session:
            user = UserRepository(session).get(name)
        if user is None or not user.active:
            return None
        return SignedIn(user.name, user.role, user.provider)
