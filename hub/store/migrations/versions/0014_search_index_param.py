"""search_index by (type, id, param, token code): the index of a search's correlated
criterion checks (is this candidate's ``status`` ``requested``?), one probe each instead of
a walk over every index row of the candidate. It replaces ``ix_search_index_resource``
(type, id), its prefix, so writes keep one index for it.

Revision ID: 0014_search_index_param
Revises: 0006_resource_method
Create Date: 2026-11-30
"""

from alembic import op

revision = "0014_search_index_param"
down_revision = "0006_resource_method"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_search_index_resource_param", "search_index",
                    ["res_type", "res_id", "param", "token_code"])
    op.drop_index("ix_search_index_resource", table_name="search_index")


def downgrade() -> None:
    op.create_index("ix_search_index_resource", "search_index", ["res_type", "res_id"])
    op.drop_index("ix_search_index_resource_param", table_name="search_index")
