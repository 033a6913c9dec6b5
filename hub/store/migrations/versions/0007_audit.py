"""Audit log: audit_events (one AuditEvent per audited request, append-only).

Revision ID: 0007_audit
Revises: 0001_base
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_audit"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("recorded", sa.DateTime(), nullable=False),
        sa.Column("action", sa.String(1), nullable=False),
        sa.Column("outcome", sa.String(2), nullable=False),
        sa.Column("agents", sa.Text(), nullable=False),
        sa.Column("entities", sa.Text(), nullable=False),
        sa.Column("patients", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_events_recorded", "audit_events", ["recorded"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_recorded", table_name="audit_events")
    op.drop_table("audit_events")
