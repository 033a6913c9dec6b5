"""Drop hub_key: the access-token key is no longer kept in the database.

Keys come from HUB_SIGNING_KEY_FILE / HUB_SIGNING_KEYS / HUB_SECRET_KEY (hub.signing_keys).
Tokens signed with the dropped key stop being accepted (they live at most 5 minutes).

Revision ID: 0006_no_key_in_db
Revises: 0003_clients
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_no_key_in_db"
down_revision = "0003_clients"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("hub_key")


def downgrade() -> None:
    op.create_table(
        "hub_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_hub_key_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_key")),
    )
