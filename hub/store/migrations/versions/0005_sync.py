"""Sync ledger: outbox, sync_links, sync_cursors.

Revision ID: 0005_sync
Revises: 0001_base
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_sync"
down_revision = "0001_base"
branch_labels = None
depends_on = None

# naive UTC timestamps (hub.store.sync_tables.UtcDateTime)
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("resource_version", sa.String(64), nullable=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox",
                    ["status", "next_attempt_at"])
    op.create_index("ix_outbox_partner_id_case_id_id", "outbox",
                    ["partner_id", "case_id", "id"])
    op.create_table(
        "sync_links",
        sa.Column("local_type", sa.String(64), nullable=False),
        sa.Column("local_id", sa.String(64), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("remote_id", sa.String(128), nullable=True),
        sa.Column("remote_version", sa.String(64), nullable=True),
        sa.Column("last_ack_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("conflict_version", sa.String(64), nullable=True),
        sa.Column("conflict_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("local_type", "local_id", "partner_id",
                                name=op.f("pk_sync_links")),
    )
    op.create_table(
        "sync_cursors",
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("cursor", sa.String(255), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("partner_id", "resource_type", name=op.f("pk_sync_cursors")),
    )


def downgrade() -> None:
    op.drop_table("sync_cursors")
    op.drop_table("sync_links")
    op.drop_index("ix_outbox_partner_id_case_id_id", table_name="outbox")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
