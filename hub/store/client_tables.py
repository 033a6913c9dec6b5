"""Tables of API clients and used client-assertion ids (token keys are not kept here:
see hub.signing_keys).

Times that only get compared (assertion expiry) are stored as integer epoch seconds so that
SQLite and PostgreSQL behave the same; times shown to people are timezone-aware datetimes.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, String, Table, Text

from hub.store.db import metadata

#: Registered OAuth2 clients. A client has either a secret (stored hashed) or a JWKS.
clients = Table(
    "clients", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(255), nullable=True),
    Column("jwks", Text, nullable=True),
    Column("scope", Text, nullable=False),
    Column("organization", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

#: ``jti`` of each accepted client assertion, kept until the assertion expires (replay guard).
client_assertion_jtis = Table(
    "client_assertion_jtis", metadata,
    Column("client_id", String(64), ForeignKey("clients.client_id", ondelete="CASCADE"),
           primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires_at", BigInteger, nullable=False, index=True),
)
