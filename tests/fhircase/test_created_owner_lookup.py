"""A resource POSTed under an id the server makes up is recorded by no case before its own
request's finish hook, so ``change_cases`` does not look its case up (``case_resources``)
unless that request opened a case (which records what it gathers, the new resource
included): then the lookup finds the opened case, which is skipped, as before. The case a
created resource names (``joining.linked_case``) is still looked up."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from hub.fhirapi.hooks import WriteEvent
from hub.fhircase import changes
from hub.security import Principal

from .discharge import MRN_SYSTEM, Discharge, ids_by_name

FHIR = "application/fhir+json"


@pytest.fixture
def h(auth_headers):
    return {**auth_headers("system/*.cruds"), "Content-Type": FHIR}


def _case_resources_reads(app) -> list[str]:
    seen: list[str] = []

    def saw(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "case_resources" in statement:
            seen.append(statement)

    event.listen(app.extensions["hub.db"].engine, "before_cursor_execute", saw)
    return seen


def test_a_post_create_does_not_look_up_its_own_case(app, client, h):
    reads = _case_resources_reads(app)
    resp = client.post("/fhir/Encounter", headers=h, json={
        "resourceType": "Encounter", "status": "planned",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "AMB"}})
    assert resp.status_code == 201, resp.get_json()
    assert reads == []


def test_a_post_naming_a_case_episode_still_joins_that_case(app, client, h, auth_headers):
    d = Discharge()
    resp = client.post("/fhir", json=d.bundle(), headers=h)
    assert resp.status_code == 200, resp.get_json()
    ids = ids_by_name(d, resp.get_json())
    case_id = client.get(f"/api/cases?identifier={MRN_SYSTEM}|{d.mrn}",
                         headers=auth_headers("system/Case.rs")).get_json()["items"][0]["id"]
    before = client.get(f"/api/cases/{case_id}", headers=auth_headers("system/Case.r"))
    reads = _case_resources_reads(app)
    resp = client.post("/fhir/Encounter", headers=h, json={
        "resourceType": "Encounter", "status": "planned",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "AMB"},
        "subject": {"reference": f"Patient/{ids['patient']}"},
        "episodeOfCare": [{"reference": f"EpisodeOfCare/{ids['episode']}"}]})
    assert resp.status_code == 201, resp.get_json()
    after = client.get(f"/api/cases/{case_id}", headers=auth_headers("system/Case.r"))
    assert after.get_json()["version"] > before.get_json()["version"]
    assert reads  # the episode's case was looked up (the Encounter's own was not)


@pytest.mark.parametrize("server_id,opened,looked_up", [
    (True, set(), False),     # a POST's new id, no case opened: nothing can name it
    (True, {"case-1"}, True),  # a case opened in the request may have recorded it
    (False, set(), True),     # a client's id (PUT, transaction entry) may be recorded
])
def test_which_creates_look_up_their_case(monkeypatch, server_id, opened, looked_up):
    asked: list[tuple[str, str]] = []

    def case_of(_uow, rtype, rid, _content=None):
        asked.append((rtype, rid))
        return None

    monkeypatch.setattr(changes, "case_of", case_of)
    principal = Principal(client_id="c", scope="")
    created = WriteEvent("create", "Encounter", "e1", None, {"resourceType": "Encounter"}, 1,
                         principal, server_id)
    changes.change_cases(object(), [created], principal, partners=None,
                         skip_cases=opened, lookup=lambda _ref: None)
    assert (("Encounter", "e1") in asked) is looked_up
