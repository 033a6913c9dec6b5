"""The storage codec of the case document (issue 8 item 5): versioned, upgraded on load,
independent of the API schemas; documents stored by earlier code still load."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.cases import CaseStatus, DecisionStatus
from hub.store import case_codec
from hub.store.case_tables import cases
from hub.store.uow import UnitOfWork

#: Case documents as the hub stored them before the codec existed (schema version 0:
#: ``CaseSchema().dump``), produced by that code: River walked to active, and three more.
V0 = Path(__file__).parent / "fixtures" / "stored_cases_v0.json"


def _v0() -> list[dict]:
    return json.loads(V0.read_text())


def _same_instants(value):
    """The document with every ISO datetime string parsed (``Z`` == ``+00:00``)."""
    if isinstance(value, dict):
        return {k: _same_instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_same_instants(v) for v in value]
    if isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and "T" in value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def test_version_0_documents_still_load():
    stored = _v0()
    assert [d["version"] for d in stored] == [7, 1, 1, 1]
    river = case_codec.decode(stored[0]["document"])
    assert river.id == stored[0]["id"] and river.version == 7
    assert river.status == CaseStatus.ACTIVE
    assert [h.status for h in river.status_history] == [
        "intake", "assessment", "planning", "active"]
    assert river.plan.approved_by.name == "Dr Robin Vale" and river.plan.approved
    assert river.reviews[0].notes == "on track" and river.reviews[0].done_at.tzinfo
    assert river.notes[-1].text == "Called the patient; all well."
    assert {i.value for i in river.patient.identifiers} == {"MRN-RIVER-0001", "HI-5550001"}
    others = [case_codec.decode(d["document"]) for d in stored[1:]]
    assert all(c.status == CaseStatus.INTAKE for c in others)
    assert [c.program for c in others] == ["hiv", "discharge-planning", "stroke"]
    insurer = next(f for f in others[1].funding if f.id == "f-insurer")
    assert [(d.service.code, d.status) for d in insurer.decisions] == [
        ("32485007", DecisionStatus.AUTH_APPROVED), ("S9500", DecisionStatus.AUTH_DENIED),
        ("G0299", DecisionStatus.AUTH_APPROVED)]
    assert [len(c.encounters) for c in others] == [4, 2, 3]
    assert all(e.start.tzinfo is not None for c in others for e in c.encounters)


def test_nothing_of_a_version_0_document_is_lost():
    for stored in _v0():
        old = stored["document"]
        new = case_codec.encode(case_codec.decode(old))
        assert new.pop("schema_version") == case_codec.SCHEMA_VERSION
        assert _same_instants(new) == _same_instants(old)


def test_round_trip_of_the_current_version():
    for stored in _v0():
        case = case_codec.decode(stored["document"])
        doc = case_codec.encode(case)
        assert doc["schema_version"] == case_codec.SCHEMA_VERSION
        assert json.loads(json.dumps(doc)) == doc  # plain JSON
        assert case_codec.decode(doc) == case


def test_upgrades_run_in_order_and_newer_documents_are_refused(monkeypatch):
    doc = _v0()[1]["document"]
    assert "schema_version" not in doc
    assert case_codec.upgrade(doc)["schema_version"] == case_codec.SCHEMA_VERSION
    assert "schema_version" not in doc  # the stored dict is left as it is
    with pytest.raises(case_codec.UnknownSchemaVersion):
        case_codec.decode({**doc, "schema_version": case_codec.SCHEMA_VERSION + 1})
    # a next version: its upgrade runs on load, after the earlier ones
    seen = []

    def v1_to_v2(d):
        seen.append(d["schema_version"])
        return {**d, "schema_version": 2, "program": (d["program"] or "") + "-v2"}

    monkeypatch.setattr(case_codec, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(case_codec.UPGRADES, 1, v1_to_v2)
    assert case_codec.upgrade(doc)["program"].endswith("-v2") and seen == [1]


def test_the_repository_loads_old_rows_and_writes_the_current_version(app):
    db = app.extensions["hub.db"]
    stored = _v0()[0]
    doc = stored["document"]
    with db.engine.begin() as conn:  # a row as the earlier code wrote it
        conn.execute(sa.insert(cases).values(
            id=stored["id"], version=stored["version"], status=doc["status"],
            model=doc["model"], program=doc["program"], setting=doc["setting"],
            next_review_due=None, opened_at=datetime.fromisoformat(doc["opened_at"]),
            updated_at=datetime.fromisoformat(doc["opened_at"]), document=doc))
    with UnitOfWork(db) as uow:
        case = uow.cases.get(stored["id"])
        assert case.version == 7 and case.status == CaseStatus.ACTIVE
        case.program = "stroke-rehab"
        uow.cases.update(case, expected_version=7)  # bare repository write: no projection
        uow.session.commit()
    with db.engine.connect() as conn:
        written = conn.execute(sa.select(cases.c.document)).scalar_one()
    assert written["schema_version"] == case_codec.SCHEMA_VERSION
    assert written["program"] == "stroke-rehab"


def test_the_api_schema_is_not_the_storage_format():
    import hub.store.case_repo as repo

    source = Path(repo.__file__).read_text()
    assert "hub.schemas" not in source and "CaseSchema" not in source
