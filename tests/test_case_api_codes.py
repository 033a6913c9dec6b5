"""/api/cases refuses codes that could never be valid FHIR, naming each field; nothing stored."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from case_data import minimal, river

from hub.cases import Code
from hub.mappings import code_checks
from hub.mappings.codes import CASE_STATUS_SYSTEM
from hub.store.case_tables import cases


@pytest.fixture
def h(auth_headers):
    return auth_headers("system/Case.cruds")


def stored(app) -> int:
    with app.extensions["hub.db"].engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(cases)).scalar_one()


def _role(system: str, code: str = "768832004") -> dict:
    return minimal(care_team=[{"id": "cm", "kind": "practitioner", "name": "Alex Morgan",
                               "role": {"system": system, "code": code}}])


def _condition(system: str, code: str = "127295002") -> dict:
    return minimal(assessment={"conditions": [{"id": "c1", "code": {"system": system,
                                                                     "code": code}}]})


@pytest.mark.parametrize("body,field", [
    (_role("SNOMED CT"), "care_team.0.role.system"),
    (_role("snomed"), "care_team.0.role.system"),
    (_role("http:/snomed.info/sct"), "care_team.0.role.system"),
    (_condition("not a uri"), "assessment.conditions.0.code.system"),
    (_condition("http://snomed.info/sct", " 127295002"), "assessment.conditions.0.code.code"),
    (_condition("http://snomed.info/sct", "a  b"), "assessment.conditions.0.code.code"),
    # a system the hub knows every code of: the code must be one of them
    (_condition("http://terminology.hl7.org/CodeSystem/condition-clinical", "bogus"),
     "assessment.conditions.0.code.code"),
    (_condition(CASE_STATUS_SYSTEM, "bogus"), "assessment.conditions.0.code.code"),
    (minimal(patient={"name": {"family": "T"}, "identifiers": [
        {"system": "MRN", "value": "1"}]}), "patient.identifiers.0.system"),
    (minimal(patient={"name": {"family": "T"}, "birth_date": "2099-01-01"}),
     "patient.birth_date"),
])
def test_bad_codes_are_refused_naming_the_field(client, h, app, body, field):
    resp = client.post("/api/cases", json=body, headers=h)
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["errors"], resp.get_json()
    assert stored(app) == 0


def test_good_codes_pass(client, h, app):
    ok = _condition("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")
    assert client.post("/api/cases", json=ok, headers=h).status_code == 201
    assert client.post("/api/cases", json=_role("http://snomed.info/sct"),
                       headers=h).status_code == 201
    assert client.post("/api/cases", json=river(), headers=h).status_code == 201
    born_today = minimal(patient={"name": {"family": "T"},
                                  "birth_date": date.today().isoformat()})
    assert client.post("/api/cases", json=born_today, headers=h).status_code == 201
    assert stored(app) == 4


def test_update_is_checked_too(client, h, app):
    created = client.post("/api/cases", json=river(), headers=h)
    body = river()
    body["assessment"]["conditions"][0]["code"]["system"] = "ICD-10"
    resp = client.put(f"/api/cases/{created.get_json()['id']}", json=body,
                      headers={**h, "If-Match": created.headers["ETag"]})
    assert resp.status_code == 422
    assert "assessment.conditions.0.code.system" in resp.get_json()["errors"]
    again = client.get(f"/api/cases/{created.get_json()['id']}", headers=h)
    assert again.get_json()["version"] == 1


def test_code_checks_are_pure():
    assert code_checks.code_problems(Code("urn:oid:2.16.840.1.113883.6.96", "x")) == {}
    assert code_checks.code_problems(Code("https://nahdo.org/sopt", "21")) == {}
    assert "system" in code_checks.code_problems(Code("sct", "x"))
    tomorrow = date.today() + timedelta(days=1)
    from hub.cases import HumanName, Patient

    found = code_checks.problems(Patient(name=HumanName("T"), birth_date=tomorrow),
                                 today=date.today())
    assert found == {"birth_date": ["Must not be in the future."]}


def test_merge_patch_is_checked_too(client, h, app):
    created = client.post("/api/cases", json=river(), headers=h)
    cid, etag = created.get_json()["id"], created.headers["ETag"]
    headers = {**h, "Content-Type": "application/merge-patch+json", "If-Match": etag}
    resp = client.patch(f"/api/cases/{cid}", json={"patient": {"birth_date": "2099-12-31"}},
                        headers=headers)
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"patient.birth_date"}
    assert client.get(f"/api/cases/{cid}", headers=h).headers["ETag"] == etag
