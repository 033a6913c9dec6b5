"""``hub fhir rekey``: move resources stored under the old public ids (UUIDv5 of the case
id) to the ids the hub derives under its id key (``hub.fhirstore.rekey``).

Run it once after upgrading a hub that stored cases before the id key existed, with the
hub's id key configured as ``hub serve`` has it (``HUB_ID_KEY`` or the database's). One
transaction; idempotent. Partners keep their links: later deliveries update their copies
by the partner's ids.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from hub.commands.common import in_unit_of_work, progress, settings_of
from hub.fhirstore.rekey import NoIdKey, RekeyReport, rekey
from hub.store import id_key
from hub.store.uow import UnitOfWork


@click.command("rekey")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rekey_command(ctx: click.Context, as_json: bool) -> None:
    """Give every resource still under a public id (derivable from its case id) the id
    the hub derives with its key; rewrite references, indexes, ledger links, pending
    deliveries and case documents. Old ids answer 404 (410 where the new id existed)."""
    settings = settings_of(ctx)

    def work(uow: UnitOfWork) -> RekeyReport:
        if not id_key.install(uow.db, settings.id_key):
            raise click.ClickException("the database is not migrated: run 'hub db upgrade'")
        with progress("rekeying resources") as told:
            return rekey(uow.session, progress=told)

    try:
        report = in_unit_of_work(settings, work)
    except NoIdKey as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
        return
    click.echo(f"resources: {report.renamed} moved to their keyed id, {report.retired} "
               f"retired (their keyed id existed already)")
    click.echo(f"rewritten: {report.rewritten} resource versions, {report.deliveries} "
               f"deliveries, {report.cases} case documents; {report.links} ledger links "
               f"moved")
