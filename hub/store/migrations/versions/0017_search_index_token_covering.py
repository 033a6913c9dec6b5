"""search_index: ``ix_search_index_token`` holds the resource's id after the code:
(res_type, param, token_code, res_id, token_system). A search's per-candidate check of a
token (``Task?owner=...&status=requested``: is this candidate's status ``requested``?) is
answered from the index rows of that one code, which lie together and in id order,
instead of one probe of ``ix_search_index_resource_param`` per candidate, each at a place of
its own. On SQLite, whose page cache a commit on another connection empties (every read's
AuditEvent commits one), the benchmark's search statement at 10k read ~110 pages instead
of ~300 after such a commit. A search driven by a token reads its ids from the index alone.
The index replaces the old one (same leading columns), so a write keeps one token index.

On SQLite ``ix_search_index_resource_param`` loses its ``token_code`` (back to 0014's
(res_type, res_id, param)): with it, the two indexes answer the check equally well in the
planner's eyes and SQLite, with or without statistics, kept the per-candidate probe. On
PostgreSQL it keeps it: shared buffers are not emptied by commits, the probe per candidate
is an index-only scan there, and the planner, offered the token index instead, took
``ix_search_index_resource_param`` with a filter on the heap (796 -> 1,004 buffers).

Revision ID: 0017_search_index_token_covering
Revises: 0016_search_index_ref_covering
Create Date: 2026-12-01
"""

from alembic import op

revision = "0017_search_index_token_covering"
down_revision = "0016_search_index_ref_covering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_search_index_token", table_name="search_index")
    op.create_index("ix_search_index_token", "search_index",
                    ["res_type", "param", "token_code", "res_id", "token_system"])
    if op.get_bind().dialect.name == "sqlite":
        _resource_param(["res_type", "res_id", "param"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _resource_param(["res_type", "res_id", "param", "token_code"])
    op.drop_index("ix_search_index_token", table_name="search_index")
    op.create_index("ix_search_index_token", "search_index",
                    ["res_type", "param", "token_code", "token_system"])


def _resource_param(columns: list[str]) -> None:
    op.drop_index("ix_search_index_resource_param", table_name="search_index")
    op.create_index("ix_search_index_resource_param", "search_index", columns)
