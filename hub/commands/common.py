"""What the command groups share: the settings, the database, one unit of work."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hub import bootstrap
from hub.config import Settings
from hub.store.db import Database
from hub.store.uow import UnitOfWork


def settings_of(ctx: click.Context) -> Settings:
    """The Settings the ``hub`` group made (or those of the environment)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings.from_env()


def sqlite_file(database_url: str) -> Path | None:
    """The absolute path of an SQLite database file URL (relative ones are relative to the
    working directory, as ``hub serve`` opens them); None for other databases."""
    url = make_url(database_url)
    name = url.database or ""
    if not url.drivername.startswith("sqlite") or name in ("", ":memory:") \
            or name.startswith("file:"):
        return None
    return Path(name).expanduser().resolve()


def require_database(settings: Settings) -> None:
    """Refuse to run on an SQLite file that does not exist (opening it would silently
    create an empty hub): a ClickException naming the path and how to create it. Only
    ``hub serve`` and ``hub db upgrade`` create the database."""
    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        raise click.ClickException(
            f"no hub database at {path}. Create it with 'hub db upgrade' (or 'hub serve') "
            f"there, or name the hub's database with --database-url or HUB_DATABASE_URL "
            f"(the same settings 'hub serve' reads).")


def open_database(settings: Settings) -> Database:
    """The existing database of ``settings`` (``require_database``) as the runtime opens
    it (``hub.bootstrap``); the embedded SQLite one is migrated like ``hub serve``."""
    require_database(settings)
    return bootstrap.open_database(settings)


def runtime_for(settings: Settings, **kwargs) -> bootstrap.Runtime:
    """The runtime of a command, on the existing database of ``settings``."""
    require_database(settings)
    return bootstrap.build_runtime(settings, **kwargs)


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


class _Bar:
    """A progress callback ``(done, total)`` drawing a click progress bar on stderr."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if total <= 0:
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr,
                                         show_pos=True, show_percent=True)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _quiet(done: int, total: int) -> None:
    """No progress shown (stderr is not a terminal)."""


@contextmanager
def progress(label: str) -> Iterator[Any]:
    """A ``(done, total)`` callback for long work: a progress bar on stderr when it is a
    terminal, nothing when it is piped or redirected (scripts and logs stay clean)."""
    if not sys.stderr.isatty():
        yield _quiet
        return
    bar = _Bar(label)
    try:
        yield bar
    finally:
        bar.close()
