"""The outbox's batch statements on PostgreSQL: one statement per kind of write, with the
batch in array parameters, instead of an executemany of one statement per row.

Measured (bench/README.md, "outbox on PostgreSQL", 2026-11-30 late): a step's CPU in the
hub process went to SQLAlchemy expanding ``IN`` lists and to psycopg sending an
executemany row by row (a pipeline it polls once per message). With arrays the statement
texts are constant, so SQLAlchemy compiles each once, psycopg converts and prepares each
once, and the server plans each once; the rows of a batch travel as a few arrays.

What the statements write is what the per-row statements of ``hub.sync.outbox`` write,
byte for byte (the JSON of a response is the text ``hub.fhirjson.codec.dumps`` writes, as
the engine's JSON type does; timestamps naive UTC, as ``UtcDateTime`` stores them).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, text
from sqlalchemy.dialects import postgresql

from hub.fhirjson import codec
from hub.store.sync_tables import UtcDateTime, sync_links
from hub.sync.ledger import LINK_KEY

#: The SQL type of each column of ``sync_links`` (the array parameters are cast to it),
#: as the table declares it.
LINK_TYPES = {c.name: c.type.compile(dialect=postgresql.dialect()) for c in sync_links.columns}
_UTC = UtcDateTime()

#: The rows of a batch delivered: ``_DONE`` of ``hub.sync.outbox`` for each of them.
DONE = text(
    "UPDATE outbox SET status = 'done', done_at = :now, last_status = v.http_status, "
    "last_error = NULL, response = v.response, claimed_by = NULL, claimed_until = NULL "
    "FROM unnest(CAST(:ids AS BIGINT[]), CAST(:statuses AS INTEGER[]), "
    "CAST(:responses AS JSON[])) AS v(id, http_status, response) WHERE outbox.id = v.id"
).bindparams(bindparam("now", type_=UtcDateTime))


def done_params(rows: list[dict]) -> dict:
    """``DONE``'s parameters from the per-row parameters of ``_DONE`` (same ``now``)."""
    return {"now": rows[0]["now"], "ids": [r["row_id"] for r in rows],
            "statuses": [r["http_status"] for r in rows],
            "responses": [codec.dumps(r["response"]) for r in rows]}


@lru_cache(maxsize=64)
def upsert_links(columns: tuple[str, ...]):
    """INSERT of links, or UPDATE of ``columns`` where they exist, for a batch (one array
    per column; the keys of a batch are distinct, see ``hub.sync.outbox._Writes``)."""
    names = (*LINK_KEY, *columns)
    arrays = ", ".join(f"CAST(:{c} AS {LINK_TYPES[c]}[])" for c in names)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    return text(f"INSERT INTO sync_links ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
                f"ON CONFLICT (local_type, local_id, partner_id) DO UPDATE SET {updates}")


def links_params(columns: tuple[str, ...], rows: list[dict]) -> dict:
    """``upsert_links(columns)``'s parameters from the links' values (column -> value)."""
    out: dict[str, list] = {}
    for name in (*LINK_KEY, *columns):
        values = [r[name] for r in rows]
        if isinstance(sync_links.c[name].type, UtcDateTime):
            values = [_naive(v) for v in values]
        out[name] = values
    return out


def _naive(value: datetime | None) -> datetime | None:
    return _UTC.process_bind_param(value, None)
