"""resources.method: the interaction that wrote a version (POST, PUT or DELETE).

History shows a create by PUT (client-chosen id) as PUT, not POST.

Revision ID: 0006_resource_method
Revises: 0004_resources
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_resource_method"
down_revision = "0004_resources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("method", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("method")
