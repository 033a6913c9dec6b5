"""``hub deliveries`` (list, retry the outbox) and ``hub worker`` (the sync executor)."""

from __future__ import annotations

import json
import logging
import signal
import threading

import click

from hub.commands.common import in_unit_of_work, progress, runtime_for, settings_of
from hub.sync import outbox
from hub.sync.retry import RetryPolicy


@click.group("deliveries")
def command() -> None:
    """The outbox of deliveries to partners: inspect and replay."""


@command.command("list")
@click.option("--status", type=click.Choice(("pending", "in-flight", "done", "dead")),
              default=None, help="Only deliveries in this status.")
@click.option("--partner", "partner_id", default=None, help="Only this partner.")
@click.option("--case", "case_id", default=None, help="Only this case.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_command(ctx: click.Context, status: str | None, partner_id: str | None,
                 case_id: str | None, limit: int, as_json: bool) -> None:
    """List deliveries, oldest first (dead letters with --status dead)."""
    rows = in_unit_of_work(settings_of(ctx), lambda uow: outbox.list_deliveries(
        uow.session, status=status, partner_id=partner_id, case_id=case_id, limit=limit),
        commit=False)
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in rows], indent=2, default=str))
        return
    if not rows:
        click.echo("no deliveries")
    for d in rows:
        error = (d.last_error or "").splitlines()[0] if d.last_error else ""
        click.echo(f"#{d.id:<6} {d.status:<9} {d.partner_id:<16} case={d.case_id} "
                   f"{d.operation} {d.resource_type}/{d.resource_id} attempts={d.attempts}"
                   + (f" http={d.last_status}" if d.last_status else "")
                   + (f"  {error}" if error else ""))


@command.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-dead", is_flag=True, help="Replay every dead delivery.")
@click.option("--accept-remote-version", is_flag=True,
              help="After a 412 conflict you reviewed: update over the partner's version "
                   "recorded in the ledger (fails again if it changed since).")
@click.pass_context
def retry_command(ctx: click.Context, ids: tuple[int, ...], all_dead: bool,
                  accept_remote_version: bool) -> None:
    """Replay dead deliveries (by ID, or --all-dead) with a fresh attempt count."""
    if not ids and not all_dead:
        raise click.UsageError("give delivery IDs or --all-dead")
    with progress("replaying") as told:
        replayed = in_unit_of_work(settings_of(ctx), lambda uow: outbox.replay(
            uow.session, list(ids), all_dead=all_dead,
            accept_remote_version=accept_remote_version, progress=told), commit=True)
    missing = sorted(set(ids) - set(replayed))
    if replayed:
        click.echo(f"replaying {len(replayed)} deliver{'y' if len(replayed) == 1 else 'ies'}: "
                   + " ".join(f"#{i}" for i in replayed))
    else:
        click.echo("nothing to replay")
    if missing:
        raise click.ClickException("not dead (or unknown): "
                                   + " ".join(f"#{i}" for i in missing))


@click.command("worker")
@click.option("--worker-id", default=None, help="Name in claimed_by (default host:pid:rand).")
@click.option("--concurrency", type=int, default=4, show_default=True,
              help="Deliveries in parallel (different cases).")
@click.option("--batch", type=int, default=None,
              help="Rows claimed per round, recorded in one transaction (default 32).")
@click.option("--lease-seconds", type=float, default=None,
              help="Claim lease (default from the partners' timeouts, at least 60).")
@click.option("--idle-seconds", type=float, default=1.0, show_default=True,
              help="Sleep when nothing is due.")
@click.option("--max-attempts", type=int, default=10, show_default=True)
@click.option("--backoff-base", type=float, default=5.0, show_default=True)
@click.option("--backoff-max", type=float, default=3600.0, show_default=True)
@click.option("--once", is_flag=True, help="Process one batch and exit.")
@click.pass_context
def worker_command(ctx: click.Context, worker_id: str | None, concurrency: int,
                   batch: int | None, lease_seconds: float | None, idle_seconds: float, max_attempts: int,
                   backoff_base: float, backoff_max: float, once: bool) -> None:
    """Deliver the outbox to partners until SIGTERM/SIGINT (several may share PostgreSQL)."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runtime = runtime_for(settings_of(ctx))
    db = runtime.db
    worker = runtime.worker(worker_id, concurrency=concurrency, batch=batch, pulls=True,
                            audit_retention_days=settings_of(ctx).audit_retention_days,
                            lease_seconds=lease_seconds,
                            policy=RetryPolicy(max_attempts=max_attempts,
                                               base_delay=backoff_base, max_delay=backoff_max))
    stop = threading.Event()
    try:
        if once:
            click.echo(f"processed {worker.run_once()}")
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        click.echo(f"hub worker {worker.worker_id} delivering from {db.engine.url!r}")
        worker.run(stop, idle_seconds=idle_seconds)
    finally:
        worker.close()
        runtime.close()


if __name__ == "__main__":  # ``python -m hub.commands.deliveries``: the worker alone
    worker_command()
