"""The versioned FHIR resource store: resources, search_index, conditional_keys.

Revision ID: 0004_resources
Revises: 0001_base
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_resources"
down_revision = "0001_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("version_id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("last_updated", sa.DateTime(), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("current", sa.Boolean, nullable=False),
        sa.Column("content", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("res_type", "res_id", "version_id", name="pk_resources"),
    )
    op.create_index("ix_resources_current", "resources", ["res_type", "current", "last_updated"])
    op.create_index("ix_resources_updated", "resources", ["last_updated"])
    op.create_table(
        "search_index",
        sa.Column("row_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.Column("param", sa.String(64), nullable=False),
        sa.Column("token_system", sa.String(255)),
        sa.Column("token_code", sa.String(255)),
        sa.Column("string_value", sa.String(255)),
        sa.Column("string_exact", sa.String(255)),
        sa.Column("ref_type", sa.String(64)),
        sa.Column("ref_id", sa.String(255)),
        sa.Column("date_low", sa.DateTime()),
        sa.Column("date_high", sa.DateTime()),
        sa.Column("number", sa.Float),
    )
    op.create_index("ix_search_index_resource", "search_index", ["res_type", "res_id"])
    op.create_index("ix_search_index_token", "search_index",
                    ["res_type", "param", "token_code", "token_system"])
    op.create_index("ix_search_index_string", "search_index",
                    ["res_type", "param", "string_value"])
    op.create_index("ix_search_index_ref", "search_index",
                    ["res_type", "param", "ref_id", "ref_type"])
    op.create_index("ix_search_index_target", "search_index", ["ref_type", "ref_id"])
    op.create_index("ix_search_index_date", "search_index",
                    ["res_type", "param", "date_low", "date_high"])
    op.create_table(
        "conditional_keys",
        sa.Column("res_type", sa.String(64), nullable=False),
        sa.Column("query_key", sa.String(64), nullable=False),
        sa.Column("res_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("res_type", "query_key", name="pk_conditional_keys"),
    )


def downgrade() -> None:
    op.drop_table("conditional_keys")
    op.drop_table("search_index")
    op.drop_table("resources")
