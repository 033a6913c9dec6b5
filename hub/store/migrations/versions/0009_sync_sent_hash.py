"""sync_links.sent_hash: a hash of the partner's copy after the hub's last write.

``hub sync verify`` reads every linked resource back and compares it with this hash to
tell what the partner changed.

Revision ID: 0009_sync_sent_hash
Revises: 0005_sync
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_sync_sent_hash"
down_revision = "0005_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_links") as batch:
        batch.add_column(sa.Column("sent_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_links") as batch:
        batch.drop_column("sent_hash")
