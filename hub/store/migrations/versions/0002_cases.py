"""Case records: the ``cases`` table and its patient-identifier index ``case_identifiers``.

Revision ID: 0002_cases
Revises: 0001_base
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_cases"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("program", sa.String(128), nullable=True),
        sa.Column("setting", sa.String(32), nullable=False),
        sa.Column("next_review_due", sa.Date, nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_index("ix_cases_status", "cases", ["status"])
    op.create_index("ix_cases_model", "cases", ["model"])
    op.create_index("ix_cases_program", "cases", ["program"])
    op.create_index("ix_cases_next_review_due", "cases", ["next_review_due"])
    op.create_table(
        "case_identifiers",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("system", sa.String(255), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE",
                                name="fk_case_identifiers_case_id_cases"),
        sa.PrimaryKeyConstraint("case_id", "system", "value", name="pk_case_identifiers"),
    )
    op.create_index("ix_case_identifiers_system_value", "case_identifiers",
                    ["system", "value"])
    op.create_index("ix_case_identifiers_value", "case_identifiers", ["value"])


def downgrade() -> None:
    op.drop_table("case_identifiers")
    op.drop_table("cases")
