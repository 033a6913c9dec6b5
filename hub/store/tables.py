"""Imports every table module so that ``metadata`` knows all tables (Alembic, tests)."""

from hub.store.db import metadata  # noqa: F401

# Each table module registers its tables on import. Keep this list complete.
import importlib

for _name in ("hub.store.case_tables", "hub.store.client_tables", "hub.store.resource_tables",
              "hub.store.sync_tables"):
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a module not written yet
        if exc.name != _name:
            raise
