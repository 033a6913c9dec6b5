"""Issue 9.5, as the attacker tries it: agency C edits referrals that are not its own.

Only a Task's owner may change it; an open referral (no owner, ``requested``) may be
changed by an agency it is offered to only by claiming it (``owner`` = itself). Anything
else answers exactly like a Task that does not exist.
"""

import uuid

import pytest
from fhirapi_helpers import task
from partner_world import AGENCY_A, ref

AGENCY_C = "Organization/agency-c"


@pytest.fixture
def agency_c(fhir_as):
    return fhir_as("system/*.cruds", organization=AGENCY_C)


def _put(client, t: dict, **changes):
    return client.put(f"/fhir/Task/{t['id']}", {**t, **changes},
                      headers={"If-Match": f'W/"{t["meta"]["versionId"]}"'})


def _absent_answer(client, t: dict):
    rid = str(uuid.uuid4())
    resp = client.put(f"/fhir/Task/{rid}", {**t, "id": rid},
                      headers={"If-Match": f'W/"{t["meta"]["versionId"]}"'})
    return resp.status_code, resp.get_data(as_text=True).replace(rid, "<id>")


def _edits(t: dict) -> dict:
    return {"description": "moved to agency C", "priority": "stat",
            "note": [{"text": "call agency C instead"}]}


def test_another_agency_cannot_edit_a_task_addressed_to_a(world, fhir, agency_c):
    t = world["task_a"]
    resp = _put(agency_c, t, **_edits(t))
    answer = resp.status_code, resp.get_data(as_text=True).replace(t["id"], "<id>")
    assert answer == _absent_answer(agency_c, t) and answer[0] == 404
    assert agency_c.delete(f"/fhir/Task/{t['id']}").status_code == 204  # as if absent
    assert fhir.get(f"/fhir/{ref(t)}").get_json() == t


def test_an_open_referral_is_changed_only_by_claiming_it(world, fhir, fhir_as, agency_c):
    t = world["task_open"]
    assert agency_c.get(f"/fhir/{ref(t)}").status_code == 200  # offered to every agency
    resp = _put(agency_c, t, **_edits(t))
    answer = resp.status_code, resp.get_data(as_text=True).replace(t["id"], "<id>")
    assert answer == _absent_answer(agency_c, t) and answer[0] == 404
    # handing it to someone else is not claiming it either
    assert _put(agency_c, t, owner={"reference": AGENCY_A}).status_code == 404
    assert agency_c.delete(f"/fhir/Task/{t['id']}").status_code == 204  # as if absent
    assert fhir.get(f"/fhir/{ref(t)}").get_json() == t
    claimed = _put(agency_c, t, status="accepted", owner={"reference": AGENCY_C},
                   description="agency C takes it")
    assert claimed.status_code == 200, claimed.get_json()
    agency_a = fhir_as("system/*.cruds", organization=AGENCY_A)
    assert agency_a.get(f"/fhir/{ref(t)}").status_code == 404


def test_an_open_referral_offered_to_a_only(world, fhir, fhir_as, agency_c):
    offered = fhir.create({**task(ref(world["patient3"]), focus=ref(world["sr_open"])),
                           "restriction": {"recipient": [{"reference": AGENCY_A}]}})
    assert agency_c.get(f"/fhir/{ref(offered)}").status_code == 404
    assert _put(agency_c, offered, status="accepted",
                owner={"reference": AGENCY_C}).status_code == 404
    agency_a = fhir_as("system/*.cruds", organization=AGENCY_A)
    assert _put(agency_a, offered, status="accepted",
                owner={"reference": AGENCY_A}).status_code == 200
