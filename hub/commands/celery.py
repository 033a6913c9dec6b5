"""``hub celery``: the Celery executor of the outbox (``worker``) and its trigger (``kick``).

``hub celery worker`` runs a Celery worker of ``hub.sync.celery_app`` configured from the
hub's settings (it is ``celery -A hub.commands.celery worker`` plus the retry options of
``hub worker`` and the SQLite migration); options it does not know go to Celery, e.g.
``hub celery worker --beat -- --concurrency 8 --pool threads``.
``hub celery kick`` sends one ``deliver_due`` task; ``--every SECONDS`` sends a sweep task
every SECONDS instead (a beat-free periodic producer: run one).
"""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
from pathlib import Path

import click

from hub.commands.common import require_database, runtime_for, settings_of
from hub.config import Settings
from hub.store.migrate import upgrade
from hub.sync.retry import RetryPolicy


def worker_runtime(settings: Settings):
    """The runtime of one Celery worker process (its database is migrated by the command)."""
    return runtime_for(settings, migrate=False)


def create_worker_app(settings: Settings | None = None, options=None):
    """The Celery app of a worker: ``hub.sync.celery_app`` with the hub's runtime."""
    from hub.sync.celery_app import create_celery  # celery is the optional executor

    return create_celery(settings, options, runtime_factory=worker_runtime)


def __getattr__(name: str):
    # ``celery -A hub.commands.celery worker`` looks up ``app``: built on first access, so
    # that importing this module reads no environment and needs no celery
    if name in ("app", "celery"):
        return create_worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _queue_option(func):
    return click.option("--queue", envvar="HUB_CELERY_QUEUE", default=None,
                        help="Celery queue (default hub-sync; HUB_CELERY_QUEUE).")(func)


@click.group("celery")
def command() -> None:
    """The Celery executor: workers on RabbitMQ/Redis delivering the outbox."""


@command.command("worker", context_settings={"ignore_unknown_options": True})
@_queue_option
@click.option("--batch", type=int, default=None,
              help="Deliveries claimed and delivered in parallel per round (default 4; "
                   "HUB_CELERY_BATCH).")
@click.option("--lease-seconds", type=float, default=None,
              help="Claim lease (default from the partners' timeouts, at least 60).")
@click.option("--max-attempts", type=int, default=10, show_default=True)
@click.option("--backoff-base", type=float, default=5.0, show_default=True)
@click.option("--backoff-max", type=float, default=3600.0, show_default=True)
@click.option("--beat", is_flag=True,
              help="Also run the periodic sweep (embedded celery beat). One per deployment.")
@click.option("--sweep-seconds", type=float, envvar="HUB_CELERY_SWEEP_SECONDS", default=None,
              help="Interval of the sweep (default 10; HUB_CELERY_SWEEP_SECONDS).")
@click.option("--schedule-file", type=click.Path(dir_okay=False), default=None,
              help="Beat's state file (default in the temporary directory).")
@click.option("--loglevel", default="INFO", show_default=True)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def celery_worker(ctx: click.Context, queue: str | None, batch: int | None,
                  lease_seconds: float | None, max_attempts: int, backoff_base: float,
                  backoff_max: float, beat: bool, sweep_seconds: float | None,
                  schedule_file: str | None, loglevel: str,
                  celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker delivering the outbox (extra options go to Celery)."""
    from hub.sync.celery_app import ExecutorOptions  # celery is the optional executor

    settings = settings_of(ctx)
    require_database(settings)  # never an empty hub.db beside the working directory
    options = ExecutorOptions.from_env(
        queue=queue, batch=batch, sweep_seconds=sweep_seconds, lease_seconds=lease_seconds,
        policy=RetryPolicy(max_attempts=max_attempts, base_delay=backoff_base,
                           max_delay=backoff_max))
    if settings.database_url.startswith("sqlite"):
        upgrade(settings.database_url)  # the embedded database, as hub worker does
    app = create_worker_app(settings, options)
    argv = ["worker", f"--loglevel={loglevel}", "--queues", options.queue]
    if beat:
        schedule = schedule_file or str(Path(tempfile.gettempdir())
                                        / f"hub-celerybeat-{options.queue}")
        argv += ["--beat", "--schedule", schedule]
    argv += list(celery_args)
    code = app.worker_main(argv)
    if code:
        ctx.exit(code)


@command.command("kick")
@_queue_option
@click.option("--batch", type=int, default=None, help="Batch size for the task.")
@click.option("--every", type=float, default=None,
              help="Send a sweep every SECONDS until SIGTERM/SIGINT (instead of beat).")
@click.pass_context
def kick_command(ctx: click.Context, queue: str | None, batch: int | None,
                 every: float | None) -> None:
    """Send a deliver_due task (once, or every --every seconds)."""
    from hub.sync.celery_app import SWEEP, ExecutorOptions, create_celery, kick  # celery is optional

    app = create_celery(settings_of(ctx), ExecutorOptions.from_env(queue=queue))
    try:
        if every is None:
            try:
                kick(app, batch=batch, raise_errors=True)
            except Exception as exc:
                raise click.ClickException(
                    f"cannot reach the Celery broker ({type(exc).__name__}: {exc})") from None
            click.echo(f"kicked queue {app.conf.task_default_queue}")
            return
        if every <= 0:
            raise click.BadParameter("must be positive", param_hint="--every")
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s %(message)s")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        click.echo(f"kicking queue {app.conf.task_default_queue} every {every:g}s")
        while not stop.is_set():
            kick(app, batch=batch, expires=every, task=SWEEP)  # failures are logged
            stop.wait(every)
    finally:
        app.close()


if __name__ == "__main__":  # ``python -m hub.commands.celery worker|kick``
    command()
