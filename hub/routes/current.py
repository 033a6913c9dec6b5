"""This request's ``request``, ``current_app`` and ``g`` as the objects themselves.

Flask's ``request``, ``current_app`` and ``g`` are werkzeug ``LocalProxy`` objects: each
attribute read through one looks the object up in its context variable and, first, fails
to find the attribute on the proxy itself (an ``AttributeError`` formatted and dropped by
Python 3.11's ``__getattr__`` hook): ~8,000 instructions under callgrind against ~1,100
for ``request.path`` on the request itself. A FHIR read made ~58 such reads (the hub's
hooks, guards and limits: ~15% of its instructions; bench/README.md, "2026-12-01"). The
functions that run on every request take the object once and read it directly.

``header`` reads a request header from the WSGI environ: werkzeug's ``headers.get`` of an
absent header raises and catches a ``BadRequestKeyError`` on its way to the default.
"""

from __future__ import annotations

from typing import cast

from flask import Flask, Request, current_app, g, request
from flask.ctx import _AppCtxGlobals

#: The headers WSGI keeps without the ``HTTP_`` prefix.
_UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def this_request() -> Request:
    """The request being handled (outside a request context: RuntimeError, as Flask's)."""
    return cast(Request, request._get_current_object())  # type: ignore[attr-defined]


def this_app() -> Flask:
    """The app handling it."""
    return cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]


def this_g() -> _AppCtxGlobals:
    """The app context's ``g``."""
    return cast(_AppCtxGlobals, g._get_current_object())


def header(req: Request, name: str) -> str | None:
    """``req.headers.get(name)``: the header's environ entry, as werkzeug's
    ``EnvironHeaders`` reads it, without an exception when it is absent."""
    key = name.upper().replace("-", "_")
    return req.environ.get(key if key in _UNPREFIXED else f"HTTP_{key}")
