"""The subscriptions table: what the hub keeps of each Subscription resource to notify it.

The Subscription resource itself is in the FHIR store (versions, history, search); this row
holds what only the server may know or change: who created it (client, bound organization),
the parsed channel and criteria, the ``channel.header`` values (secrets: never stored in the
resource, never returned), the event counter and the error counts, the next heartbeat.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from hub.store.db import metadata
from hub.store.sync_tables import UtcDateTime

subscriptions = Table(
    "subscriptions", metadata,
    Column("id", String(64), primary_key=True),  # the Subscription resource's id
    Column("client_id", String(64), nullable=False),
    Column("organization", String(128)),
    Column("status", String(16), nullable=False),
    # "criteria" (R4: a search on resource_type) or "topic" (Backport IG: a hub topic)
    Column("kind", String(16), nullable=False),
    Column("resource_type", String(64), nullable=False),
    # the parsed Subscription (hub.subscriptions.spec.Spec.to_row), headers included
    Column("spec", JSON, nullable=False),
    Column("heartbeat_seconds", Integer),
    Column("next_heartbeat_at", UtcDateTime),
    Column("events", Integer, nullable=False, default=0),  # events-since-subscription-start
    Column("failures", Integer, nullable=False, default=0),  # consecutive failed attempts
    Column("error_count", Integer, nullable=False, default=0),  # failed attempts since start
    Column("last_error", Text),
    # review-due topic: reviews due up to this date (ISO) have been looked for
    Column("reviews_through", String(10)),
    Index("ix_subscriptions_status_resource_type", "status", "resource_type"),
)
