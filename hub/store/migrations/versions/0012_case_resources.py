"""Cases opened through /fhir: the client's resources that are the case's parts.

Revision ID: 0012_case_resources
Revises: 0011_identity_keys
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_case_resources"
down_revision = "0011_identity_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_resources",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("hub_id", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("owned", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("case_id", "resource_type", "hub_id", name="pk_case_resources"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name="fk_case_resources_case_id_cases", ondelete="CASCADE"),
    )
    op.create_index("ix_case_resources_resource", "case_resources",
                    ["resource_type", "resource_id"])


def downgrade() -> None:
    op.drop_table("case_resources")
