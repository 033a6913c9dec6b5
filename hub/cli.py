"""The ``hub`` command: serve, db, clients, and the groups of the other features."""

from __future__ import annotations

import functools
import logging
import signal

import click

from hub import create_app
from hub.bootstrap import build_runtime
from hub.commands import audit, clients, deliveries, fhir, keys, partners, sync, users
from hub.commands import celery as celery_commands
from hub.config import Settings
from hub.extras import MissingExtra
from hub.serving import body_backstop, serve_granian
from hub.store.migrate import upgrade
from hub.sync.worker import start_worker_thread


class HubGroup(click.Group):
    """The ``hub`` group: a part whose extra is not installed is an error message, not a
    traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MissingExtra as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=HubGroup)
@click.option("--database-url", envvar="HUB_DATABASE_URL", default=None,
              help="SQLAlchemy URL (default sqlite:///hub.db; HUB_DATABASE_URL).")
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """fhir-case-hub: FHIR R4 interoperability hub for medical case management."""
    overrides = {"database_url": database_url} if database_url else {}
    ctx.obj = Settings.from_env(None, **overrides)


def waitress_limits(settings: Settings) -> dict:
    """Waitress reads a whole request body before it calls the app, and answers a body
    over its own limit with a plain-text 413 the app never sees: that limit is the
    backstop of ``hub.serving`` (twice HUB_MAX_BODY_BYTES, at least 1 MiB more); the app
    refuses a body over HUB_MAX_BODY_BYTES itself (``hub.routes.limits``)."""
    return {"max_request_body_size": body_backstop(settings.max_body_bytes) + 1}


def _serving_app(settings: Settings):
    """(app, stop) of ``hub serve``: the app, and the embedded sync worker started beside
    it (``stop`` ends it; None when HUB_SYNC_WORKER=false or another executor delivers)."""
    runtime = build_runtime(settings)
    app = create_app(runtime)
    worker = start_worker_thread(runtime) if settings.sync_executor == "thread" else None
    return app, (functools.partial(worker.stop, 10) if worker is not None else None)


def _raise_system_exit(signum, frame) -> None:
    raise SystemExit(0)


@main.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option("--threads", type=int, default=8, show_default=True,
              help="Python threads running requests.")
@click.option("--server", type=click.Choice(("granian", "waitress")), default="granian",
              show_default=True, help="The WSGI server (hub/serving.py).")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, threads: int,
          server: str) -> None:
    """Serve the hub with a production WSGI server (granian, or waitress)."""
    if host:
        settings.host = host
    if port:
        settings.port = port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    click.echo(f"hub serving on http://{settings.host}:{settings.port} "
               f"(FHIR base /fhir, case API /api/cases; {server})")
    if server == "granian":
        serve_granian(functools.partial(_serving_app, settings), host=settings.host,
                      port=settings.port, threads=threads,
                      max_body_bytes=settings.max_body_bytes)
        return
    import waitress  # only needed here

    app, stop = _serving_app(settings)
    # SIGTERM (a service manager's stop) ends waitress' loop as Ctrl-C does, so that the
    # sync worker below is stopped (its batch finished) rather than killed
    signal.signal(signal.SIGTERM, _raise_system_exit)
    try:
        waitress.serve(app, host=settings.host, port=settings.port, threads=threads,
                       ident="fhir-case-hub", **waitress_limits(settings))
    finally:
        if stop is not None:
            stop()


@main.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
@click.pass_obj
def db_upgrade(settings: Settings, revision: str) -> None:
    """Apply the Alembic migrations to HUB_DATABASE_URL."""
    upgrade(settings.database_url, revision)
    click.echo("database is up to date")


for _group in (clients.command, users.command, partners.command, deliveries.command,
               keys.command, sync.command, celery_commands.command, deliveries.worker_command,
               audit.command, fhir.command):
    main.add_command(_group)
