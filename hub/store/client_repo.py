"""ClientRepository: registered API clients and the client-assertion replay guard.

Client secrets are generated here, shown once to whoever creates the client, and stored
only as a werkzeug password hash.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import overload

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hub.clock import utcnow
from hub.security import validate_client_scope, validate_jwks
from hub.store import leases
from hub.store.client_tables import client_assertion_jtis, clients

_ACTIVE = select(clients.c.revoked_at).where(clients.c.client_id == bindparam("client_id"))


def client_is_active(engine: Engine, client_id: str) -> bool:
    """Whether the client exists and is not revoked: the check of every API request, with
    one prepared statement (no ORM session), on the request's connection
    (``hub.store.leases``) or a pooled one of its own, in autocommit (one round trip on
    PostgreSQL, and no ping: ``leases.first_row``). Read from the database every time:
    a revocation holds from the very next request."""
    row = leases.first_row(engine, _ACTIVE, {"client_id": client_id})
    return row is not None and row[0] is None  # revoked_at (the driver's value on SQLite)


#: The secrets are 256-bit random strings, not passwords: a slow KDF adds no safety against
#: guessing, only CPU cost on every token request (which an attacker can trigger), so a
#: salted PBKDF2 with a moderate iteration count is used instead of werkzeug's scrypt default.
SECRET_HASH_METHOD = "pbkdf2:sha256:10000"
_ORGANIZATION_RE = re.compile(r"^Organization/[A-Za-z0-9\-.]{1,64}$")
#: Compared against when the client is unknown, so both paths cost the same.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(8), method=SECRET_HASH_METHOD)


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, kw_only=True)
class Client:
    """A registered client. ``secret_hash`` and ``jwks`` never leave the hub."""

    client_id: str
    name: str
    scope: str
    organization: str | None
    created_at: datetime
    revoked_at: datetime | None
    secret_hash: str | None = field(default=None, repr=False)
    jwks: dict | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def auth_method(self) -> str:
        return "private_key_jwt" if self.jwks is not None else "client_secret_basic"

    def check_secret(self, secret: str) -> bool:
        """Whether ``secret`` is this client's secret (False for JWKS clients)."""
        if self.secret_hash is None:
            check_password_hash(_DUMMY_HASH, secret)
            return False
        return check_password_hash(self.secret_hash, secret)

    def public(self) -> dict:
        """What may be shown about the client (no secret, no hash)."""
        return {
            "client_id": self.client_id, "name": self.name, "scope": self.scope,
            "organization": self.organization, "auth_method": self.auth_method,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def check_unknown_secret(secret: str) -> bool:
    """Spend the time of a secret check for an unknown client; always False."""
    check_password_hash(_DUMMY_HASH, secret)
    return False


def validate_organization(reference: str | None) -> str | None:
    """``Organization/<id>`` or None; ValueError otherwise."""
    if reference is None:
        return None
    if not _ORGANIZATION_RE.match(reference):
        raise ValueError(f"organization must look like 'Organization/<id>': {reference!r}")
    return reference


def _row_to_client(row) -> Client:
    return Client(client_id=row.client_id, name=row.name, scope=row.scope,
                  organization=row.organization, created_at=_utc(row.created_at),
                  revoked_at=_utc(row.revoked_at), secret_hash=row.secret_hash,
                  jwks=json.loads(row.jwks) if row.jwks else None)


def _insert_ignoring_conflict(session: Session, table, values: dict) -> bool:
    """Insert ``values`` unless the primary key exists; True when a row was inserted."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        # RETURNING, not rowcount: psycopg reports -1 for ON CONFLICT inserts
        stmt = make(table).values(**values).on_conflict_do_nothing() \
            .returning(*table.primary_key.columns)
        return session.execute(stmt).first() is not None
    try:  # pragma: no cover - the hub runs on SQLite and PostgreSQL
        with session.begin_nested():
            session.execute(insert(table).values(**values))
        return True
    except IntegrityError:
        return False


class ClientRepository:
    """Clients on one session (``uow.clients``); the caller commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str, scope: str, organization: str | None = None,
               jwks: dict | None = None) -> tuple[Client, str | None]:
        """Register a client; returns it and its secret (None for a JWKS client).

        ValueError (with a message fit for the user) on a bad name, scope, organization
        or JWKS.
        """
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise ValueError("the client name must be 1 to 200 characters")
        scope = validate_client_scope(scope)
        organization = validate_organization(organization)
        secret = secret_hash = None
        if jwks is not None:
            jwks = validate_jwks(jwks)
        else:
            secret = secrets.token_urlsafe(32)
            secret_hash = generate_password_hash(secret, method=SECRET_HASH_METHOD)
        client = Client(client_id=secrets.token_hex(16), name=name, scope=scope,
                        organization=organization, created_at=utcnow(),
                        revoked_at=None, secret_hash=secret_hash, jwks=jwks)
        self.session.execute(insert(clients).values(
            client_id=client.client_id, name=name, secret_hash=secret_hash,
            jwks=json.dumps(jwks) if jwks is not None else None, scope=scope,
            organization=organization, created_at=client.created_at, revoked_at=None))
        return client, secret

    def get(self, client_id: str) -> Client | None:
        row = self.session.execute(
            select(clients).where(clients.c.client_id == client_id)).first()
        return _row_to_client(row) if row else None

    def list(self) -> list[Client]:
        rows = self.session.execute(
            select(clients).order_by(clients.c.created_at, clients.c.client_id))
        return [_row_to_client(r) for r in rows]

    def is_active(self, client_id: str) -> bool:
        """Whether the client exists and is not revoked."""
        revoked = self.session.execute(
            select(clients.c.revoked_at).where(clients.c.client_id == client_id)).first()
        return revoked is not None and revoked.revoked_at is None

    def revoke(self, client_id: str) -> Client | None:
        """Revoke the client (idempotent); None when there is no such client."""
        self.session.execute(
            update(clients)
            .where(clients.c.client_id == client_id, clients.c.revoked_at.is_(None))
            .values(revoked_at=utcnow()))
        return self.get(client_id)

    def use_jti(self, client_id: str, jti: str, expires_at: int, now: int) -> bool:
        """Record a client assertion's ``jti``; False when it was already used (replay).

        Ids of assertions that expired before ``now`` are pruned first: such an assertion
        is refused on its ``exp`` anyway.
        """
        self.session.execute(
            delete(client_assertion_jtis).where(client_assertion_jtis.c.expires_at < now))
        return _insert_ignoring_conflict(self.session, client_assertion_jtis, {
            "client_id": client_id, "jti": jti, "expires_at": expires_at})
