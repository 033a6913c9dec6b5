"""One database connection per request (``hub.store.leases``): the client check, the
request's unit of work and its AuditEvent's transaction take turns on it, instead of
checking out a connection of the pool each."""

from __future__ import annotations

from flask import Flask

from hub.store import leases


def init_app(app: Flask) -> None:
    engine = app.extensions["hub.db"].engine
    inner = app.wsgi_app

    def wsgi_app(environ, start_response):
        with leases.lease(engine):
            return inner(environ, start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]
