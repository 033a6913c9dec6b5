"""``hub fhir reindex``: rebuild the rows the hub derives from what it stores.

Resources and cases stored before a search parameter, the compartment links, the patient
identity keys or the one-open-case keys existed lack those rows until they are written
again; this backfills them (``hub.fhirstore.reindex``, ``CaseRepository.rebuild_open_cases``).
Run it after ``hub db upgrade`` when upgrading a hub with data. Idempotent.

What it reports names Patients and cases by id, never an identifier value (no patient data
in what operators paste into tickets).
"""

from __future__ import annotations

import json

import click

from hub.commands.common import in_unit_of_work, progress, settings_of
from hub.commands.rekey import rekey_command
from hub.fhirstore.reindex import ReindexReport, reindex
from hub.store.case_repo import OpenCaseRebuild


@click.group("fhir")
def command() -> None:
    """The FHIR resource store."""


command.add_command(rekey_command)  # ``hub fhir rekey`` (hub.commands.rekey)


@command.command("reindex")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def reindex_command(ctx: click.Context, as_json: bool) -> None:
    """Rebuild the search index, compartment links and patient identity keys of every
    stored resource, and the one-open-case keys of the cases. Reports Patients that share
    an identifier and open cases that share a patient and program (kept as they are: a
    person merges or closes them)."""
    def work(uow):
        with progress("reindexing resources") as told:
            report = reindex(uow.db, progress=told)  # in batches, each committed
        return report, uow.cases.rebuild_open_cases()  # committed with the unit of work

    report, rebuilt = in_unit_of_work(settings_of(ctx), work)
    if as_json:
        click.echo(json.dumps(summary(report, rebuilt), indent=2))
        return
    click.echo(f"resources: {report.resources} looked at, {report.reindexed} reindexed")
    click.echo(f"patient identity keys: {report.identities_added} added, "
               f"{report.identities_dropped} dropped")
    click.echo(f"open-case keys: {rebuilt.added} added, {rebuilt.dropped} dropped")
    for d in report.duplicates:
        click.echo(f"shared identifier ({d.system}): Patient/{d.holder} keeps it; also on "
                   + ", ".join(f"Patient/{o}" for o in d.others))
    for patient, program, holder, others in rebuilt.conflicts:
        click.echo(f"open cases of one patient ({patient}) in program {program or '-'}: "
                   f"{holder} keeps the key; also open: {', '.join(others)}")


def summary(report: ReindexReport, rebuilt: OpenCaseRebuild) -> dict:
    """The JSON report (identifier values left out)."""
    return {
        "resources": report.resources, "reindexed": report.reindexed,
        "identities_added": report.identities_added,
        "identities_dropped": report.identities_dropped,
        "shared_identifiers": [{"system": d.system, "holder": d.holder, "others": d.others}
                               for d in report.duplicates],
        "open_cases_added": rebuilt.added, "open_cases_dropped": rebuilt.dropped,
        "open_case_conflicts": [{"patient": p, "program": g, "holder": h, "others": o}
                                for p, g, h, o in rebuilt.conflicts],
    }
