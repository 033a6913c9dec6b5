"""Clients, used client-assertion ids and the hub token-signing key.

Revision ID: 0003_clients
Revises: 0001_base
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_clients"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=True),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("organization", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_clients")),
    )
    op.create_table(
        "client_assertion_jtis",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("jti", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.client_id"], ondelete="CASCADE",
                                name=op.f("fk_client_assertion_jtis_client_id_clients")),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_client_assertion_jtis")),
    )
    op.create_index(op.f("ix_client_assertion_jtis_expires_at"), "client_assertion_jtis",
                    ["expires_at"])
    op.create_table(
        "hub_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_hub_key_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_key")),
    )


def downgrade() -> None:
    op.drop_table("hub_key")
    op.drop_index(op.f("ix_client_assertion_jtis_expires_at"),
                  table_name="client_assertion_jtis")
    op.drop_table("client_assertion_jtis")
    op.drop_table("clients")
