"""What a FHIR create (``POST /fhir/{type}``) stores, row for row.

A create stores version 1 of the resource and its Provenance (``hub.fhirapi.provenance``)
in the request's transaction. These tests pin the rows (``resources`` and
``search_index``) against those the repository's one-resource path writes for the same
contents (``ResourceRepository.create`` and ``provenance.record``, in a transaction rolled
back), for the hub's own client and for a partner, so a faster write path cannot store
anything else; and the order of the times: the resource's ``lastUpdated``, then the
Provenance's ``recorded``, then its ``lastUpdated``.
"""

from __future__ import annotations

from typing import Any

import pytest
from partner_world import AGENCY_A, ref, visit
from sqlalchemy import delete, event, select

from hub.fhirapi import provenance
from hub.fhirapi.hooks import WriteEvent
from hub.fhirstore.tables import patient_identities as PI
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI
from hub.security import Principal
from hub.store.uow import UnitOfWork


def _stored(session, rtype: str, rid: str) -> tuple[list[tuple], list[tuple]]:
    """The version rows (without the time and content) and the index rows (without row
    id, type and id) of ``rtype/rid``."""
    versions = [tuple(r) for r in session.execute(
        select(R.c.version_id, R.c.current, R.c.deleted, R.c.method)
        .where(R.c.res_type == rtype, R.c.res_id == rid))]
    index = sorted(tuple(str(v) for k, v in r._mapping.items()
                         if k not in ("row_id", "res_type", "res_id"))
                   for r in session.execute(select(SI).where(SI.c.res_type == rtype,
                                                             SI.c.res_id == rid)))
    return versions, index


def _content(session, rtype: str, rid: str) -> dict[str, Any]:
    from hub.fhirjson import codec

    text = session.execute(select(R.c.content).where(R.c.res_type == rtype,
                                                     R.c.res_id == rid)).scalar_one()
    return codec.loads(text)


def _without_meta(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k not in ("meta", "id")}


def _provenance_of(session, target: str) -> str:
    (pid,) = session.execute(select(SI.c.res_id).where(
        SI.c.res_type == "Provenance", SI.c.param == "target",
        SI.c.ref_id == target.split("/")[1])).scalars().all()
    return pid


def _check_create(app, body: dict, organization: str | None = None) -> None:
    """The rows of the created ``body`` and of its Provenance are those of the
    one-resource path for the same contents."""
    db = app.extensions["hub.db"]
    rtype, rid = body["resourceType"], body["id"]
    with UnitOfWork(db) as uow:
        session = uow.session
        stored, stored_index = _stored(session, rtype, rid)
        assert stored == [(1, True, False, "POST")]
        content = _content(session, rtype, rid)
        assert content == body  # the answer is what was stored
        pid = _provenance_of(session, rid if "/" in rid else f"{rtype}/{rid}")
        prov_rows, prov_index = _stored(session, "Provenance", pid)
        assert prov_rows == [(1, True, False, "POST")]
        prov = _content(session, "Provenance", pid)
        assert prov["target"] == [{"reference": f"{rtype}/{rid}/_history/1"}]
        # times: the resource's version, then the Provenance's recorded, then its version
        assert content["meta"]["lastUpdated"] <= prov["recorded"] \
            <= prov["meta"]["lastUpdated"]
        # the one-resource path, for the same contents, under other ids (rolled back)
        who = prov["agent"][0]["who"]
        principal = Principal(
            client_id=who["identifier"]["value"] if organization is None else "partner",
            scope="system/*.cruds", organization=organization)
        by_partner = organization is not None
        if rtype == "Patient":  # its identifiers claimed (one Patient per identity)
            assert session.execute(select(PI.c.patient_id)).scalars().all() == [rid]
            session.execute(delete(PI))
        again = uow.resources.create(rtype, _without_meta(body), "again-1",
                                     by_partner=by_partner)
        prov_again = provenance.record(uow, WriteEvent(
            "create", rtype, "again-1", None, again.content, 1, principal))
        assert _stored(session, rtype, "again-1")[1] == stored_index
        expected = _stored(session, "Provenance", prov_again.id)[1]
        assert sorted(tuple("again-1" if v == rid else v for v in r)
                      for r in prov_index) == expected
        assert _without_meta(prov_again.content) == {
            **_without_meta(prov), "recorded": prov_again.content["recorded"],
            "target": [{"reference": f"{rtype}/again-1/_history/1"}]}
        uow.rollback()


def _statements(app):
    seen: list[tuple[str, int]] = []

    def record(conn, cursor, statement, params, context, executemany):
        seen.append((" ".join(statement.split()), len(params) if executemany else 1))

    engine = app.extensions["hub.db"].engine
    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


def test_a_create_by_the_hub_stores_the_rows_of_the_one_resource_path(app, world, fhir):
    made = fhir.create({"resourceType": "Observation", "status": "final",
                        "code": {"text": "Pain score"},
                        "subject": {"reference": ref(world["patient1"])},
                        "basedOn": [{"reference": ref(world["sr_a"])}],
                        "valueInteger": 3})
    _check_create(app, made)


def test_a_create_by_a_partner_stores_the_rows_of_the_one_resource_path(app, world, fhir_as):
    agency_a = fhir_as("system/*.cruds", organization=AGENCY_A)
    made = agency_a.create(visit(ref(world["patient1"]), ref(world["sr_a"]), AGENCY_A))
    _check_create(app, made, AGENCY_A)
    # the agency sees its visit (its Provenance names it) and only through it
    assert agency_a.get(f"/fhir/{ref(made)}").status_code == 200


@pytest.mark.parametrize("rtype", ["Encounter", "Patient"])
def test_a_create_writes_its_resource_and_provenance_in_one_statement_per_table(
        app, world, fhir, rtype):
    body = visit(ref(world["patient1"]), ref(world["sr_a"]), AGENCY_A) \
        if rtype == "Encounter" else {
            "resourceType": "Patient", "name": [{"family": "Lindqvist"}],
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-77-1"}]}
    seen, stop = _statements(app)
    try:
        made = fhir.create(body)
    finally:
        stop()
    inserts = [(s.split()[2], n) for s, n in seen
               if s.startswith(("INSERT INTO resources ", "INSERT INTO search_index "))]
    assert [table for table, _ in inserts] == ["resources", "search_index"]
    assert inserts[0][1] == 2  # the resource and its Provenance
    _check_create(app, made)


def test_a_refused_partner_create_stores_neither_resource_nor_provenance(world, fhir,
                                                                          fhir_as):
    agency_a = fhir_as("system/*.cruds", organization=AGENCY_A)
    provenances = fhir.get("/fhir/Provenance").get_json()["total"]
    # an Encounter based on another agency's referral: refused after its write
    resp = agency_a.post("/fhir/Encounter", visit(ref(world["patient2"]),
                                                  ref(world["sr_b"]), AGENCY_A))
    assert resp.status_code == 403
    assert fhir.get("/fhir/Provenance").get_json()["total"] == provenances
    assert fhir.get("/fhir/Encounter").get_json()["total"] == 0


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_write_answers_with_the_text_it_stored(app, world, fhir, method):
    """The body of a create's (and an update's) answer is the JSON text stored for the
    version, byte for byte: a decimal as it was sent (``105.00``), non-ASCII escaped."""
    subject = ref(world["patient1"])
    body = ('{"resourceType": "Observation", "status": "final", "code": {"text": "Gewicht'
            ' \\u00e4"}, "subject": {"reference": "' + subject + '"}, "valueQuantity": '
            '{"value": 105.00, "unit": "kg"}}')
    url = "/fhir/Observation"
    if method == "PUT":
        url, body = url + "/weight-1", body.replace('{"resourceType"',
                                                    '{"id": "weight-1", "resourceType"', 1)
    resp = fhir.request(method, url, data=body,
                        headers={"Content-Type": "application/fhir+json"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    rid = resp.get_json()["id"]
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        text = uow.session.execute(select(R.c.content).where(
            R.c.res_type == "Observation", R.c.res_id == rid)).scalar_one()
    assert resp.get_data(as_text=True) == text
    assert '"value":105.00' in text and "\\u00e4" in text
