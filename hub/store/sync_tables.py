"""Tables of the sync ledger: the outbox, the links to partner resources, pull cursors."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, String, Table, Text, TypeDecorator

from hub.store.db import metadata

OUTBOX_STATUSES = ("pending", "in-flight", "done", "dead")


class UtcDateTime(TypeDecorator):
    """An aware UTC datetime in Python, a naive UTC timestamp in the database.

    SQLite has no time zones and PostgreSQL's ``timestamptz`` answers in the session zone;
    storing naive UTC makes comparisons (leases, next attempts) the same on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# BIGINT ids on PostgreSQL; plain INTEGER on SQLite, where only that is the rowid alias
Id = BigInteger().with_variant(Integer, "sqlite")

outbox = Table(
    "outbox", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("partner_id", String(64), nullable=False),
    # deliveries of one (partner, case) go out in id order; different cases in parallel
    Column("case_id", String(64), nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("resource_version", String(64)),
    Column("operation", String(32), nullable=False),
    Column("payload", JSON),
    Column("options", JSON),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(128)),
    Column("claimed_until", UtcDateTime),
    Column("last_error", Text),
    Column("last_status", Integer),
    Column("response", JSON),
    Column("created_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_outbox_partner_id_case_id_id", "partner_id", "case_id", "id"),
)

sync_links = Table(
    "sync_links", metadata,
    Column("local_type", String(64), primary_key=True),
    Column("local_id", String(64), primary_key=True),
    Column("partner_id", String(64), primary_key=True),
    Column("remote_id", String(128)),
    Column("remote_version", String(64)),
    Column("last_ack_at", UtcDateTime),
    Column("last_error", Text),
    # the partner's version when our If-Match failed: a human resolves, then replays
    Column("conflict_version", String(64)),
    Column("conflict_at", UtcDateTime),
    # a hash of the partner's copy after our last write (hub sync verify compares with it)
    Column("sent_hash", String(64)),
)

sync_cursors = Table(
    "sync_cursors", metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("resource_type", String(64), primary_key=True),
    Column("cursor", String(255)),
    Column("updated_at", UtcDateTime),
)
