"""Exceptions told to logs and stored error texts without the data they may quote.

A database error's message quotes rows and values (PostgreSQL's DETAIL: ``Key
(family)=(Smith) already exists``; SQLAlchemy adds the statement), and other libraries'
messages may quote their input: patient data. What is safe to write: the exception's type,
its SQLSTATE and the names of the constraint, table and column involved (schema names,
never values), and where it was raised (frames and source lines).
"""

from __future__ import annotations

import traceback

_SCHEMA_NAMES = ("constraint_name", "table_name", "column_name")


def describe(err: BaseException) -> str:
    """``module.Type (SQLSTATE 23505, constraint resources_pkey, table resources)``."""
    parts = []
    orig = getattr(err, "orig", None)  # SQLAlchemy wraps the driver's error
    code = getattr(orig, "sqlstate", None) or getattr(err, "sqlstate", None)
    if code:
        parts.append(f"SQLSTATE {code}")
    diag = getattr(orig, "diag", None) or getattr(err, "diag", None)
    for name in _SCHEMA_NAMES:
        value = getattr(diag, name, None) if diag is not None else None
        if value:
            parts.append(f"{name.split('_')[0]} {value}")
    text = f"{type(err).__module__}.{type(err).__name__}"
    return text + (f" ({', '.join(parts)})" if parts else "")


def safe_trace(first: BaseException) -> str:
    """Where ``first`` was raised (and what caused it): ``describe`` and the frames of
    each exception of the chain, never a message."""
    parts: list[str] = []
    seen: set[int] = set()
    err: BaseException | None = first
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        parts.append(describe(err) + "\n" + "".join(traceback.format_tb(err.__traceback__)))
        err = err.__cause__ or err.__context__
    return "\n caused by ".join(parts)
