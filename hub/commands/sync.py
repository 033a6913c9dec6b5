"""``hub sync verify``: read back what the ledger links at a partner, report drift, repair."""

from __future__ import annotations

import json

import click

from hub.commands.common import progress, runtime_for, settings_of
from hub.sync.verify import VerifyError, summary, verify_partner


@click.group("sync")
def command() -> None:
    """The sync ledger: what partners hold of the hub's resources."""


@command.command("verify")
@click.option("--partner", "partner_id", required=True, help="The partner to read back.")
@click.option("--repair", is_flag=True,
              help="Repair drift per the partner's on_drift policy (resend, pull, report): "
                   "queues outbox rows the sync executor delivers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def verify_command(ctx: click.Context, partner_id: str, repair: bool, as_json: bool) -> None:
    """Compare every resource linked at PARTNER with the last version sent: missing,
    changed by the partner, unknown. Exits 1 when drift is left (found, not repaired)."""
    runtime = runtime_for(settings_of(ctx))
    try:
        with progress(f"reading back {partner_id}") as told:
            findings = verify_partner(runtime.db, runtime.adapters, partner_id, repair=repair,
                                      progress=told)
    except VerifyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.close()
    counts = summary(findings)
    if as_json:
        click.echo(json.dumps({"partner": partner_id, "summary": counts,
                               "resources": [f.to_dict() for f in findings]}, indent=2))
    else:
        for f in findings:
            if f.state != "ok":
                click.echo(f"{f.state:<8} {f.resource_type}/{f.resource_id} "
                           f"(partner id {f.remote_id}) {f.detail}"
                           + (f" -> {f.repair}" if f.repair else ""))
        click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))
    if any(f.state in ("missing", "changed") and not f.repair for f in findings):
        ctx.exit(1)
