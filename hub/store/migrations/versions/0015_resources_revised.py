"""resources: a partial index of the current versions that are updates (version 2 and
later), by (type, current, lastUpdated): the same columns as ``ix_resources_current``, so
SQLite, with or without statistics, prefers the smaller one for the probe. A keyset search page asks whether a row of its type was
updated since its snapshot (``hub.fhirstore.keyset.any_updated``); with only
``ix_resources_current`` that probe walked every row written since, so each page right
after a bulk load or a burst of creates read thousands of versions to find no update.

Revision ID: 0015_resources_revised
Revises: 0014_search_index_param
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_resources_revised"
down_revision = "0014_search_index_param"
branch_labels = None
depends_on = None

#: as hub.fhirstore.tables.REVISED (a migration keeps its own copy of what it creates)
REVISED = {"sqlite": '"current" = 1 AND version_id > 1',
           "postgresql": '"current" = true AND version_id > 1'}


def upgrade() -> None:
    op.create_index("ix_resources_revised", "resources", ["res_type", "current", "last_updated"],
                    sqlite_where=sa.text(REVISED["sqlite"]),
                    postgresql_where=sa.text(REVISED["postgresql"]))


def downgrade() -> None:
    op.drop_index("ix_resources_revised", table_name="resources")
