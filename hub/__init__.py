"""fhir-case-hub: FHIR R4 interoperability hub for medical case management.

``create_app`` builds the Flask app on a runtime (``hub.bootstrap``).
"""

from __future__ import annotations

import functools

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from hub.config import Settings


class _HubFlask(Flask):
    """Flask, with the answer of ``ensure_sync`` remembered per function: Flask asks it of
    each hook and view on every request (``inspect.iscoroutinefunction``, ~2% of a read's
    CPU), and a function's nature does not change (at most 512 remembered: a function made
    per request would be looked at again, as in Flask)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync_of = functools.lru_cache(maxsize=512)(super().ensure_sync)

    def ensure_sync(self, func):
        try:
            return self._sync_of(func)
        except TypeError:  # not hashable
            return super().ensure_sync(func)


def create_app(runtime=None, *, migrate: bool | None = None) -> Flask:
    """Build the WSGI app on ``runtime`` (a ``hub.bootstrap.Runtime``).

    :param runtime: the runtime, or Settings to build one from (default
        ``Settings.from_env()``).
    :param migrate: with Settings: run the Alembic migrations on start; by default only
        for SQLite (see ``hub.bootstrap.build_runtime``).
    """
    # Imported here, not at the top: ``import hub.cases`` (and the mappings, the worker)
    # must not load the web layer. Each component is named: a renamed module fails loudly.
    from hub import fhircase, inbound
    from hub.bootstrap import Runtime, build_runtime
    from hub.routes import (
        admin,
        audit_authn,
        audit_http,
        auth,
        cases,
        connections,
        console,
        console_cases,
        console_ops,
        coverage,
        docs,
        errors,
        fhir,
        headers,
        health,
        limits,
        metrics,
        notifications,
    )

    if not isinstance(runtime, Runtime):
        runtime = build_runtime(runtime if isinstance(runtime, Settings) else None,
                                migrate=migrate)
    app = _HubFlask(__name__)
    app.config["JSON_SORT_KEYS"] = False
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False
    app.extensions["hub.runtime"] = runtime
    # shorthands of the runtime's parts, for the routes
    app.extensions["hub.settings"] = runtime.settings
    app.extensions["hub.db"] = runtime.db
    # each exposes a blueprint ``bp`` and/or ``init_app(app)``
    for component in (connections, metrics, errors, headers, limits, health, auth, audit_authn,
                      audit_http, cases, fhir, inbound, fhircase, coverage, admin, notifications,
                      docs, console, console_cases, console_ops):
        if hasattr(component, "init_app"):
            component.init_app(app)
        if hasattr(component, "bp"):
            app.register_blueprint(component.bp)
    return app
