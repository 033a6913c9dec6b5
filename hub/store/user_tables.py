"""The table of the people who sign in to the console (``hub users``)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table

from hub.store.db import metadata

#: Console users. ``password_hash`` is a werkzeug scrypt hash (NULL: no local password,
#: e.g. a user who signs in through an external provider later); ``provider`` names how
#: the user signs in ("local" today).
users = Table(
    "users", metadata,
    Column("name", String(100), primary_key=True),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("provider", String(32), nullable=False, default="local"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Column("last_sign_in_at", DateTime(timezone=True), nullable=True),
)
