"""UserRepository: the console's users on one session; the caller commits.

Passwords are stored only as werkzeug scrypt hashes (a memory-hard KDF); an unknown user
is checked against a dummy hash so that both paths cost the same.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hub.clock import utcnow
from hub.store.user_tables import users

#: The roles of the console, from least to most reach (admin may do everything).
ROLES = ("case-manager", "supervisor", "operator", "admin")
PASSWORD_METHOD = "scrypt"
MIN_PASSWORD_LENGTH = 12
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(12), method=PASSWORD_METHOD)


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class User:
    """A console user; the password hash never leaves the repository."""

    name: str
    role: str
    provider: str
    created_at: datetime
    disabled_at: datetime | None = None
    last_sign_in_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def public(self) -> dict:
        return {"name": self.name, "role": self.role, "provider": self.provider,
                "active": self.active,
                "created_at": self.created_at.isoformat(timespec="seconds"),
                "disabled_at": self.disabled_at.isoformat(timespec="seconds")
                if self.disabled_at else None,
                "last_sign_in_at": self.last_sign_in_at.isoformat(timespec="seconds")
                if self.last_sign_in_at else None}


def _row_to_user(row) -> User:
    created: datetime = row.created_at
    return User(name=row.name, role=row.role, provider=row.provider,
                created_at=created.replace(tzinfo=created.tzinfo or UTC),
                disabled_at=_utc(row.disabled_at), last_sign_in_at=_utc(row.last_sign_in_at))


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"the role must be one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


class UserRepository:
    """Console users on one session; the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str, role: str, password: str | None,
               provider: str = "local") -> User:
        """Add a user; ValueError (a message fit for the user) on a bad or taken name,
        an unknown role or a short password."""
        name = (name or "").strip()
        if not _NAME_RE.match(name):
            raise ValueError("the user name must be 1 to 100 letters, digits or ._@-")
        check_role(role)
        if self.get(name) is not None:
            raise ValueError(f"there is already a user {name!r}")
        hashed = None
        if password is not None:
            hashed = generate_password_hash(check_password(password), method=PASSWORD_METHOD)
        user = User(name=name, role=role, provider=provider, created_at=utcnow())
        self.session.execute(insert(users).values(
            name=name, role=role, password_hash=hashed, provider=provider,
            created_at=user.created_at))
        return user

    def get(self, name: str) -> User | None:
        row = self.session.execute(select(users).where(users.c.name == name)).first()
        return _row_to_user(row) if row else None

    def list(self) -> list[User]:
        rows = self.session.execute(select(users).order_by(users.c.name))
        return [_row_to_user(r) for r in rows]

    def disable(self, name: str) -> User | None:
        """Disable the user (idempotent); None when there is no such user."""
        self.session.execute(update(users).where(users.c.name == name,
                                                 users.c.disabled_at.is_(None))
                             .values(disabled_at=utcnow()))
        return self.get(name)

    def verify_password(self, name: str, password: str) -> User | None:
        """The active local user ``name`` if ``password`` is theirs, else None."""
        row = self.session.execute(select(users).where(users.c.name == name)).first()
        hashed = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
        ok = check_password_hash(hashed, password)
        if not ok or row is None or row.password_hash is None or row.disabled_at is not None:
            return None
        return _row_to_user(row)

    def record_sign_in(self, name: str) -> None:
        self.session.execute(update(users).where(users.c.name == name)
                             .values(last_sign_in_at=utcnow()))
