"""Running FHIR interactions in a unit of work, retried on conditional-create races."""

from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

from flask import current_app
from sqlalchemy.exc import OperationalError

from hub.errors import Conflict
from hub.fhirapi.hooks import write_hooks
from hub.fhirapi.interactions import Ctx
from hub.security import current_principal
from hub.fhirstore.repository import ConditionalKeyTaken
from hub.store.uow import UnitOfWork

T = TypeVar("T")
log = logging.getLogger(__name__)
RETRIES = 8


def _ctx(uow: UnitOfWork) -> Ctx:
    settings = current_app.extensions["hub.settings"]
    return Ctx(uow, current_principal(), write_hooks(current_app),
               settings.page_size_default, settings.page_size_max)


def run_read(fn: Callable[[Ctx], T]) -> T:
    """Run a read-only interaction on a fresh session."""
    with UnitOfWork(current_app.extensions["hub.db"]) as uow:
        return fn(_ctx(uow))


def run_write(fn: Callable[[Ctx], T]) -> T:
    """Run ``fn`` in one transaction and commit; all or nothing.

    A conditional create that lost a race (``ConditionalKeyTaken``) or a SQLite writer
    that found the database locked is retried from the start with a fresh transaction,
    where the search now finds the winner's resource.
    """
    db = current_app.extensions["hub.db"]
    for attempt in range(RETRIES):
        with UnitOfWork(db) as uow:
            try:
                result = fn(_ctx(uow))
                uow.commit()
                return result
            except ConditionalKeyTaken:
                log.info("conditional create raced; retrying (attempt %d)", attempt + 1)
            except OperationalError as exc:
                if not (db.is_sqlite and "locked" in str(exc.orig)):
                    raise
                log.info("sqlite database locked; retrying (attempt %d)", attempt + 1)
        time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise Conflict("the write kept conflicting with concurrent writes; retry it")
