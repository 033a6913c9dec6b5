"""A case read (``GET /api/cases/{id}``) answers the stored case exactly, whether its
version was rendered before in this process or is decoded now (``RenderedCases``), and
its AuditEvent names the stored case's patient, also after the document was rewritten in
place without a new version (``hub fhir rekey`` moves patient ids so)."""

from __future__ import annotations

import json

from case_data import minimal
from flask import Response
from sqlalchemy import select, update

from hub import case_documents
from hub.audit.log import audit_events
from hub.store.case_tables import cases
from hub.store.uow import UnitOfWork


def _open(client, hdr) -> dict:
    resp = client.post("/api/cases", json=minimal(), headers=hdr)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _read(client, hdr, case_id: str):
    resp = client.get(f"/api/cases/{case_id}", headers=hdr)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_data(), resp.headers["ETag"]


def _expected(app, case_id: str) -> bytes:
    """The body rendered from the case decoded now, as before the rendered cache."""
    with app.app_context(), UnitOfWork(app.extensions["hub.db"]) as uow:
        case = uow.cases.get(case_id)
        assert case is not None
        rendered = app.json.response(case_documents.representation(case))
        return rendered.get_data() if isinstance(rendered, Response) else rendered


def _patients_of_reads(app, case_id: str) -> list[str]:
    with app.extensions["hub.db"].engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.patients, audit_events.c.content)
                            .where(audit_events.c.action == "R")).all()
    return [r.patients.strip() for r in rows if case_id in r.content]


def test_a_case_read_answers_the_same_bytes_rendered_before_or_decoded_now(
        app, client, auth_headers):
    hdr = auth_headers("system/Case.cruds")
    case = _open(client, hdr)
    expected = _expected(app, case["id"])
    first = _read(client, hdr, case["id"])   # the create's rendering, not from this text
    second = _read(client, hdr, case["id"])  # rendered from the stored text: no decode
    app.extensions.pop("hub.rendered_cases", None)
    third = _read(client, hdr, case["id"])   # nothing rendered in this process
    assert first == second == third == (expected, 'W/"1"')
    assert json.loads(expected)["id"] == case["id"]


def test_a_document_rewritten_in_place_is_answered_and_audited_anew(
        app, client, auth_headers):
    hdr = auth_headers("system/Case.cruds")
    case = _open(client, hdr)
    _read(client, hdr, case["id"])
    _read(client, hdr, case["id"])
    (before,) = set(_patients_of_reads(app, case["id"]))
    db = app.extensions["hub.db"]
    with db.engine.begin() as conn:  # what a rekey does: the same version, new contents
        doc = conn.execute(select(cases.c.document).where(cases.c.id == case["id"])) \
            .scalar_one()
        doc = {**doc, "patient_id": "rekeyed-patient-id",
               "patient": {**doc["patient"], "name": {**doc["patient"]["name"],
                                                      "family": "Rekeyed"}}}
        conn.execute(update(cases).where(cases.c.id == case["id"]).values(document=doc))
    body, etag = _read(client, hdr, case["id"])
    assert etag == 'W/"1"'
    assert json.loads(body)["patient"]["name"]["family"] == "Rekeyed"
    assert body == _expected(app, case["id"])
    assert sorted(_patients_of_reads(app, case["id"])) == sorted(
        [before, before, "Patient/rekeyed-patient-id"])
