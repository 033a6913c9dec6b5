"""One patient per identity, one open case per patient and program: their key tables.

Revision ID: 0011_identity_keys
Revises: 0010_case_worklist
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_identity_keys"
down_revision = "0010_case_worklist"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_identities",
        sa.Column("system", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("system", "value", name="pk_patient_identities"),
    )
    op.create_index("ix_patient_identities_patient_id", "patient_identities", ["patient_id"])
    op.create_table(
        "open_cases",
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("program", sa.String(128), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("patient_id", "program", name="pk_open_cases"),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_open_cases_case_id_cases",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_open_cases_case_id", "open_cases", ["case_id"])


def downgrade() -> None:
    op.drop_table("open_cases")
    op.drop_table("patient_identities")
