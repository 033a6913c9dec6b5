"""Imports every table module so that ``metadata`` knows all tables (Alembic, tests)."""

from hub.audit import log as audit_tables  # noqa: F401
from hub.fhirstore import tables as resource_tables  # noqa: F401
from hub.store import (  # noqa: F401
    case_tables,
    client_tables,
    id_key,
    subscription_tables,
    sync_tables,
    user_tables,
)
from hub.store.db import metadata

__all__ = ["metadata"]
