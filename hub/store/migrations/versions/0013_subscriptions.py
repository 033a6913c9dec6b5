"""Subscriptions: the server side of each Subscription resource (hub.store.subscription_tables).

Revision ID: 0013_subscriptions
Revises: 0012_case_resources
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_subscriptions"
down_revision = "0012_case_resources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("organization", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("heartbeat_seconds", sa.Integer()),
        sa.Column("next_heartbeat_at", sa.DateTime()),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("reviews_through", sa.String(10)),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
    )
    op.create_index("ix_subscriptions_status_resource_type", "subscriptions",
                    ["status", "resource_type"])


def downgrade() -> None:
    op.drop_table("subscriptions")
