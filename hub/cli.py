"""The ``hub`` command: serve, db, clients, and the groups of the other features."""

from __future__ import annotations

import logging

import click

from hub import create_app
from hub.bootstrap import build_runtime
from hub.commands import audit, clients, deliveries, fhir, keys, partners, sync, users
from hub.commands import celery as celery_commands
from hub.config import Settings
from hub.extras import MissingExtra
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
    over its own limit with a plain-text 413 the app never sees. The app refuses a body
    over HUB_MAX_BODY_BYTES itself, with an OperationOutcome or a JSON problem
    (``hub.routes.limits``: on the declared Content-Length, and on the length waitress
    declares for a chunked body it has read). Waitress keeps a hard limit twice as large
    (at least 1 MiB more) as the backstop: a body past it, announced or chunked, is cut
    off as it arrives and never buffered whole."""
    limit = settings.max_body_bytes
    return {"max_request_body_size": limit + max(limit, 1024 * 1024) + 1}


@main.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option("--threads", type=int, default=8, show_default=True)
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, threads: int) -> None:
    """Serve the hub with waitress (a production WSGI server)."""
    import waitress  # the WSGI server is only needed here

    if host:
        settings.host = host
    if port:
        settings.port = port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runtime = build_runtime(settings)
    app = create_app(runtime)
    # the embedded executor; None when HUB_SYNC_WORKER=false or another executor delivers
    worker = start_worker_thread(runtime) if settings.sync_executor == "thread" else None
    click.echo(f"hub serving on http://{settings.host}:{settings.port} "
               f"(FHIR base /fhir, case API /api/cases)")
    try:
        waitress.serve(app, host=settings.host, port=settings.port, threads=threads,
                       ident="fhir-case-hub", **waitress_limits(settings))
    finally:
        if worker is not None:
            worker.stop(10)


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
