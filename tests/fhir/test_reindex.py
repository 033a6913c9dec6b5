"""``hub fhir reindex`` (issue 11 backfill): the rows a write derives from a resource or a
case -- search index, compartment links, patient identity keys, one-open-case keys -- are
rebuilt for data stored before they existed, from a database where they are missing."""

from __future__ import annotations

import json

import pytest
from case_data import river
from click.testing import CliRunner
from partner_world import AGENCY_A, ref
from sqlalchemy import delete, select, update

from hub.cli import main
from hub.fhirstore.tables import patient_identities, search_index
from hub.store.case_tables import cases, open_cases

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5.1"
DERIVED = (search_index, patient_identities, open_cases)


@pytest.fixture
def db(app):
    return app.extensions["hub.db"]


@pytest.fixture
def api(auth_headers):
    return auth_headers("system/*.cruds")


def rows(db, table) -> list[tuple]:
    """The table's rows, without surrogate keys, in a stable order."""
    columns = [c for c in table.columns if c.name != "row_id"]
    with db.engine.connect() as conn:
        return sorted(tuple(repr(v) for v in r) for r in conn.execute(select(*columns)))


def wipe(db, *tables) -> None:
    """Lose the derived rows, as a database from before they existed."""
    with db.engine.begin() as conn:
        for table in tables:
            conn.execute(delete(table))


def reindex(database_url: str, settings, *args: str) -> str:
    result = CliRunner().invoke(main, ["--database-url", database_url, "fhir", "reindex",
                                       *args], env={"HUB_BASE_URL": settings.base_url})
    assert result.exit_code == 0, result.output
    return result.output


def open_case(client, api, program: str) -> dict:
    body = river()
    body["program"] = program
    resp = client.post("/api/cases", json=body, headers=api)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def opened_at(db, case_id: str):
    with db.engine.connect() as conn:
        return conn.execute(select(cases.c.opened_at).where(cases.c.id == case_id)).scalar_one()


def patient_of(db, case_id: str) -> str:
    """The id of the Patient the case was matched to (``Case.patient_id``)."""
    with db.engine.connect() as conn:
        return conn.execute(select(cases.c.document).where(
            cases.c.id == case_id)).scalar_one()["patient_id"]


def test_reindex_rebuilds_what_the_writes_made(app, db, client, api, world, fhir, fhir_as,
                                               database_url, settings):
    agency_a = fhir_as("system/*.cruds", organization=AGENCY_A)
    # agency A edits its Task, naming a Condition it sees: a partner's version carries the
    # Task's compartment links over, it adds none (neither may the rebuild)
    task = world["task_a"]
    changed = agency_a.put(f"/fhir/{ref(task)}", {
        **task, "reasonReference": {"reference": ref(world["condition1"])}},
        headers={"If-Match": f'W/"{task["meta"]["versionId"]}"'})
    assert changed.status_code == 200, changed.get_json()
    open_case(client, api, "reindex-world")
    before = {t.name: rows(db, t) for t in DERIVED}
    assert all(before.values())

    wipe(db, *DERIVED)
    assert agency_a.get(f"/fhir/{ref(task)}").status_code == 404  # its compartment is gone
    assert fhir.get(f"/fhir/Task?owner={AGENCY_A}").get_json().get("total") == 0

    out = reindex(database_url, settings)
    assert "reindexed" in out and "open-case keys: 1 added" in out
    assert {t.name: rows(db, t) for t in DERIVED} == before
    assert agency_a.get(f"/fhir/{ref(task)}").status_code == 200
    assert fhir.get(f"/fhir/Task?owner={AGENCY_A}").get_json()["total"] == 1

    again = json.loads(reindex(database_url, settings, "--json"))
    assert (again["reindexed"], again["identities_added"], again["identities_dropped"],
            again["open_cases_added"], again["open_cases_dropped"]) == (0, 0, 0, 0, 0)
    assert again["resources"] > 0


def test_patients_and_cases_from_before_the_guards(app, db, client, api, database_url,
                                                   settings):
    first = open_case(client, api, "rehab")
    # a database from before the guards: the same person opened twice, two Patients
    wipe(db, patient_identities, open_cases)
    second = open_case(client, api, "rehab")
    holder, other = patient_of(db, first["id"]), patient_of(db, second["id"])
    # ... and the first case's document from before Case.patient_id
    with db.engine.begin() as conn:
        doc = conn.execute(select(cases.c.document).where(
            cases.c.id == first["id"])).scalar_one()
        doc.pop("patient_id", None)
        conn.execute(update(cases).where(cases.c.id == first["id"]).values(document=doc))
    wipe(db, *DERIVED)

    report = json.loads(reindex(database_url, settings, "--json"))
    assert holder != other
    assert report["shared_identifiers"] == [
        {"system": MRN_SYSTEM, "holder": holder, "others": [other]}]
    assert "MRN-RIVER-0001" not in json.dumps(report)  # ids only, no patient data
    assert report["open_cases_added"] == 2 and report["open_case_conflicts"] == []

    # the guard knows the old case now: the same person again is refused, naming it
    resp = client.post("/api/cases", json={**river(), "program": "rehab"}, headers=api)
    assert resp.status_code == 409, resp.get_json()
    assert first["id"] in json.dumps(resp.get_json())


def test_two_open_cases_of_one_patient_and_program_are_reported(db, client, api,
                                                                database_url, settings):
    first = open_case(client, api, "rehab")
    wipe(db, open_cases)  # opened before the one-open-case guard
    second = open_case(client, api, "rehab")
    patient = patient_of(db, first["id"])
    assert patient_of(db, second["id"]) == patient
    wipe(db, open_cases)

    out = reindex(database_url, settings)
    # the older case keeps the key (opened in the same second: the one first by id)
    holder, other = sorted((first["id"], second["id"]), key=lambda i: (
        opened_at(db, i), i))
    assert f"{holder} keeps the key; also open: {other}" in out
    report = json.loads(reindex(database_url, settings, "--json"))
    assert report["open_case_conflicts"] == [{
        "patient": patient, "program": "rehab", "holder": holder, "others": [other]}]
    with db.engine.connect() as conn:
        assert [r.case_id for r in conn.execute(select(open_cases))] == [holder]
