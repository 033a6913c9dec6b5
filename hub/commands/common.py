"""What the command groups share: the settings, the database, one unit of work."""

from __future__ import annotations

import click
from sqlalchemy.exc import SQLAlchemyError

from hub import bootstrap
from hub.config import Settings
from hub.store.db import Database
from hub.store.uow import UnitOfWork


def settings_of(ctx: click.Context) -> Settings:
    """The Settings the ``hub`` group made (or those of the environment)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings.from_env()


def open_database(settings: Settings) -> Database:
    """The database of ``settings`` as the runtime opens it (``hub.bootstrap``); the
    embedded SQLite one is migrated like ``hub serve``."""
    return bootstrap.open_database(settings)


def in_unit_of_work(settings: Settings, work, *, commit: bool = True):
    """``work(uow)`` in one unit of work (committed unless told not to); database errors
    become clean exits."""
    db = open_database(settings)
    try:
        with UnitOfWork(db) as uow:
            result = work(uow)
            if commit:
                uow.commit()
            return result
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"database error ({type(exc).__name__}); is it migrated? run 'hub db upgrade'"
        ) from None
    finally:
        db.dispose()
