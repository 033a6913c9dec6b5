"""``hub audit``: export the audit log as NDJSON for a SIEM, purge it past its retention."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

import click

from hub.audit import log as audit_log
from hub.clock import utcnow
from hub.commands.common import in_unit_of_work, settings_of
from hub.fhirstore.dates import date_range


@click.group("audit")
def command() -> None:
    """The audit log (AuditEvents of every access to patient data)."""


@command.command("export")
@click.option("--since", default=None,
              help="Only AuditEvents recorded at or after this FHIR date/instant.")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file (0600) instead of standard output.")
@click.pass_context
def export_command(ctx: click.Context, since: str | None, out: str | None) -> None:
    """Write the AuditEvents, oldest first, one JSON object a line (NDJSON)."""
    try:
        start = date_range(since)[0] if since else None
    except ValueError:
        raise click.BadParameter(f"not a FHIR date or instant: {since!r}",
                                 param_hint="--since") from None

    def work(uow) -> int:
        stream = _open(out) if out else sys.stdout
        written = 0
        try:
            for event in audit_log.export(uow.session, start):
                stream.write(json.dumps(event, separators=(",", ":")) + "\n")
                written += 1
        finally:
            if out:
                stream.close()
        return written

    written = in_unit_of_work(settings_of(ctx), work, commit=False)
    if out:
        click.echo(f"exported {written} AuditEvents to {out}", err=True)


def _open(path: str):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")


@command.command("purge")
@click.option("--days", type=int, default=None,
              help="Keep this many days (default HUB_AUDIT_RETENTION_DAYS).")
@click.pass_context
def purge_command(ctx: click.Context, days: int | None) -> None:
    """Delete the AuditEvents older than the retention period."""
    settings = settings_of(ctx)
    keep = settings.audit_retention_days if days is None else days
    if keep < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--days")
    removed = in_unit_of_work(settings, lambda uow: audit_log.purge(
        uow.session, utcnow().replace(tzinfo=None) - timedelta(days=keep)))
    click.echo(f"purged {removed} AuditEvents older than {keep} days")
