"""Group commit of the AuditEvents of reads: one durable commit for the reads that wait.

A read (FHIR read, search, history) writes nothing but its AuditEvent, so each read used
to pay a transaction and a commit of its own (a WAL flush: fsync on SQLite with
``synchronous=FULL``, on PostgreSQL with ``synchronous_commit=on``). ``GroupCommit.record``
keeps the promise of that path, "the AuditEvent is committed before the answer leaves",
and lets the reads that arrive together share one transaction:

* a request hands in its row and waits;
* if no batch is being written, it becomes the writer: it takes every row waiting (its own
  and those that arrived meanwhile), inserts them with one executemany, commits, and wakes
  their requests; otherwise it waits for the batch under way, and the next writer takes
  its row;
* each request returns only once the transaction holding its row has committed; if that
  transaction fails, every request of the batch gets the error (the request fails as it
  did when its own insert failed).

Nothing is buffered past the answer: a crash loses only rows of requests that had not been
answered yet. With one request at a time this is exactly one transaction per read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from hub.audit.log import INSERT, insert_rows
from hub.store import driver, leases
from hub.store.db import Database


@dataclass
class _Ticket:
    row: dict
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Commits ``audit_events`` rows in batches for the threads that wait on them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cond = threading.Condition()
        self._waiting: list[_Ticket] = []
        self._writing = False
        #: for tests: called with the size of each batch written
        self.on_batch: Callable[[int], None] | None = None

    def record(self, row: dict) -> None:
        """Commit ``row`` (with whichever rows wait alongside); return once it is durable."""
        ticket = _Ticket(row)
        with self._cond:
            self._waiting.append(ticket)
            while not ticket.done:
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing = True
                batch, self._waiting = self._waiting, []
                error: BaseException | None = None
                self._cond.release()
                try:
                    self._write([t.row for t in batch])
                except BaseException as exc:  # every request of the batch learns it
                    error = exc
                finally:
                    self._cond.acquire()
                    for t in batch:
                        t.done, t.error = True, error
                    self._writing = False
                    self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error

    def _write(self, rows: list[dict]) -> None:
        # on the writing request's connection when it is free (``hub.store.leases``)
        with leases.connection(self.db.engine) as conn:
            if self.db.is_sqlite:
                # the INSERT and COMMIT on the driver (``hub.store.driver``: the same
                # statement, transaction and engine events, without SQLAlchemy's work)
                driver.statement_for(INSERT, conn).write_all(conn, rows)
            else:
                # PostgreSQL: the batch as one INSERT in autocommit, atomic by itself and
                # durable when it returns (synchronous_commit): 1 round trip, not BEGIN,
                # INSERT, COMMIT; on the driver too (the statement built once per batch
                # size), past ``MULTI_ROW_MAX`` rows through SQLAlchemy
                multi = insert_rows(rows)
                with leases.autocommit(conn):
                    if multi is not None:
                        leases.driver_run(conn, *multi)
                    else:
                        conn.execute(INSERT.values(rows))
        if self.on_batch is not None:
            self.on_batch(len(rows))


def group_commit(db: Database) -> GroupCommit:
    """The one ``GroupCommit`` of a database handle (made on first use)."""
    found = getattr(db, "_audit_group_commit", None)
    if found is None:
        with _LOCK:
            found = getattr(db, "_audit_group_commit", None)
            if found is None:
                found = GroupCommit(db)
                db._audit_group_commit = found  # type: ignore[attr-defined]
    return found


_LOCK = threading.Lock()
