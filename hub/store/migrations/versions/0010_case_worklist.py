"""cases: the worklist's filter and sort columns (patient name, case manager, opened_at).

``patient_name`` and ``case_manager`` hold the lowercased names (``given family`` and the
manager's name) that ``GET /api/cases?name=&case_manager=`` match; existing rows are
filled from their documents.

Revision ID: 0010_case_worklist
Revises: 0002_cases
Create Date: 2026-11-30
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0010_case_worklist"
down_revision = "0002_cases"
branch_labels = None
depends_on = None


def _names(document) -> tuple[str | None, str | None]:
    doc = json.loads(document) if isinstance(document, str) else document or {}
    name = (doc.get("patient") or {}).get("name") or {}
    words = [*(name.get("given") or []), name.get("family") or ""]
    patient = " ".join(w.strip() for w in words if w and w.strip()).lower() or None
    manager = ((doc.get("case_manager") or {}).get("name") or "").strip().lower() or None
    return patient, manager


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("patient_name", sa.String(255), nullable=True))
        batch.add_column(sa.Column("case_manager", sa.String(255), nullable=True))
        batch.create_index("ix_cases_patient_name", ["patient_name"])
        batch.create_index("ix_cases_case_manager", ["case_manager"])
        batch.create_index("ix_cases_opened_at", ["opened_at"])
    conn = op.get_bind()
    table = sa.table("cases", sa.column("id", sa.String), sa.column("document", sa.JSON),
                     sa.column("patient_name", sa.String),
                     sa.column("case_manager", sa.String))
    rows = conn.execute(sa.select(table.c.id, table.c.document)).all()
    for row in rows:
        patient, manager = _names(row.document)
        conn.execute(sa.update(table).where(table.c.id == row.id)
                     .values(patient_name=patient, case_manager=manager))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_opened_at")
        batch.drop_index("ix_cases_case_manager")
        batch.drop_index("ix_cases_patient_name")
        batch.drop_column("case_manager")
        batch.drop_column("patient_name")
