"""The sync ledger (``sync_links``): which copy of a local resource each partner holds.

A link ties (local type, local id, partner) to the partner's id and version of its copy,
when the partner last acknowledged it, the last error, a conflict a human must resolve,
and the hash of what was last written there (``hub sync verify``). The outbox
(``hub.sync.outbox``) reads the links of a batch when it claims it and writes them when
it records the outcomes; the statements here are built once per dialect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import ARRAY, String, any_, bindparam, select

from hub.store.sync_tables import sync_links

#: The key of a link.
LINK_KEY = ("local_type", "local_id", "partner_id")


@dataclass
class Link:
    """The sync ledger's link of a local resource to its copy at a partner."""

    local_type: str
    local_id: str
    partner_id: str
    remote_id: str | None = None
    remote_version: str | None = None
    last_ack_at: datetime | None = None
    last_error: str | None = None
    conflict_version: str | None = None
    conflict_at: datetime | None = None
    sent_hash: str | None = None


@lru_cache(maxsize=4)
def links_statement(dialect: str):
    """The links of types x ids x partners. PostgreSQL: ``= ANY`` of array parameters (a
    constant text: compiled, converted and prepared once; ``hub.sync.outbox_pg``); SQLite:
    expanding ``IN`` lists."""
    if dialect == "postgresql":
        return select(sync_links).where(
            sync_links.c.local_type == any_(bindparam("types", type_=ARRAY(String))),
            sync_links.c.local_id == any_(bindparam("ids", type_=ARRAY(String))),
            sync_links.c.partner_id == any_(bindparam("partners", type_=ARRAY(String))))
    return select(sync_links).where(
        sync_links.c.local_type.in_(bindparam("types", expanding=True)),
        sync_links.c.local_id.in_(bindparam("ids", expanding=True)),
        sync_links.c.partner_id.in_(bindparam("partners", expanding=True)))


def load_links(conn, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], Link]:
    """The links of ``keys`` (local type, local id, partner) that exist, in one query per
    500 ids (types x ids x partners, narrowed to the keys asked for)."""
    out: dict[tuple[str, str, str], Link] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        params = {"types": sorted({k[0] for k in chunk}), "ids": sorted({k[1] for k in chunk}),
                  "partners": sorted({k[2] for k in chunk})}
        for row in conn.execute(links_statement(conn.dialect.name), params):
            link = Link(**row._mapping)
            key = (link.local_type, link.local_id, link.partner_id)
            if key in keys:
                out[key] = link
    return out


def linked(links: dict[tuple[str, str, str], Link], partner_id: str,
           wanted: list[tuple[str, str]]) -> dict[str, str]:
    """``"Type/id"`` -> the partner's id, for those of ``wanted`` that ``links`` link there."""
    out: dict[str, str] = {}
    for rtype, rid in wanted:
        link = links.get((rtype, rid, partner_id))
        if link is not None and link.remote_id:
            out[f"{rtype}/{rid}"] = link.remote_id
    return out


def linked_targets(conn, partner_id: str, wanted: list[tuple[str, str]]) -> dict[str, str]:
    """``"Type/id"`` -> the partner's id, for those of ``wanted`` the ledger links there."""
    links = load_links(conn, {(t, i, partner_id) for t, i in wanted})
    return linked(links, partner_id, wanted)


def get_link(session_or_conn, local_type: str, local_id: str, partner_id: str) -> Link | None:
    """The link of a local resource at a partner, or None."""
    row = session_or_conn.execute(select(sync_links).where(
        sync_links.c.local_type == local_type, sync_links.c.local_id == local_id,
        sync_links.c.partner_id == partner_id)).first()
    return Link(**row._mapping) if row is not None else None


@lru_cache(maxsize=64)
def upsert_link(dialect: str, columns: tuple[str, ...]):
    """INSERT of a link, or UPDATE of ``columns`` when it exists (one statement; built once
    per dialect and column set, parameters by column name)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    make = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = make(sync_links).values({c: bindparam(c) for c in (*LINK_KEY, *columns)})
    return stmt.on_conflict_do_update(index_elements=list(LINK_KEY),
                                      set_={c: stmt.excluded[c] for c in columns})
