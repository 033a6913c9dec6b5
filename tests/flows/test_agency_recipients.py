"""Referrals addressed to an agency the case names only by its identifier (an NPI): the
hub writes the partner's Organization reference beside the identifier (the partners file
says which Organization carries it), so the agency finds the referral where its
compartment is (``/fhir``, bound to its Organization), may claim an open one offered to it
this way, gets it pushed to its own FHIR server, and its work there is pulled back. An
identifier no partner carries is left as it is and reaches no one (fails closed).
"""

from __future__ import annotations

import pytest

from hub import cases as c
from hub.mappings.identity import resource_id
from hub.sync.partners import Partner, Timeouts

from .flow_world import HubHarness, Peer
from .test_agency_flow import FHIR_AGENCY, _body, _open, _referral, agency_base

__all__ = ["agency_base"]  # the fixtures of the agency flow tests

NPI = "http://hl7.org/fhir/sid/us-npi"
SUNRISE_NPI = "1548273960"
OTHER = "Organization/dawn-hh"


def _by_npi(rid: str, npi: str = SUNRISE_NPI, status: str = "requested") -> dict:
    referral = _referral(rid, FHIR_AGENCY, "Sunrise Home Health", status)
    referral["agency"] = {"name": "Sunrise Home Health",
                          "identifier": {"system": NPI, "value": npi}}
    return referral


@pytest.fixture
def sunrise(app):
    """The agency partner, named in the partners file by reference and by NPI."""
    partner = Partner(id="sunrise", kind="agency", base_url="http://127.0.0.1:9/fhir",
                      organization=FHIR_AGENCY, organization_identifier=f"{NPI}|{SUNRISE_NPI}",
                      receives=("ServiceRequest", "Task"),
                      timeouts=Timeouts(connect=0.5, read=1.0))
    harness = HubHarness(app, {"sunrise": partner})
    yield harness
    harness.close()


def _agency(auth_headers, org: str) -> dict:
    return auth_headers("system/Task.rus system/ServiceRequest.rs", organization=org)


def test_a_referral_naming_the_agency_by_npi_is_in_its_compartment(
        client, auth_headers, sunrise):
    hub = auth_headers("system/*.cruds system/Case.cruds")
    case = _open(client, hub, _body([_by_npi("pt-npi"), _by_npi("pt-unknown", "9999999999")]))
    task_path = f"/fhir/Task/{resource_id(case['id'], 'task', 'pt-npi')}"
    sr_path = f"/fhir/ServiceRequest/{resource_id(case['id'], 'referral', 'pt-npi')}"
    task = client.get(task_path, headers=hub).get_json()
    assert task["owner"] == {"reference": FHIR_AGENCY, "display": "Sunrise Home Health",
                             "identifier": {"system": NPI, "value": SUNRISE_NPI}}
    mine, other = _agency(auth_headers, FHIR_AGENCY), _agency(auth_headers, OTHER)
    assert client.get(task_path, headers=mine).status_code == 200
    assert client.get(sr_path, headers=mine).status_code == 200
    assert client.get(task_path, headers=other).status_code == 404
    # an NPI no partner carries: left as written, in no agency's compartment
    unknown = f"/fhir/Task/{resource_id(case['id'], 'task', 'pt-unknown')}"
    assert "reference" not in client.get(unknown, headers=hub).get_json()["owner"]
    assert client.get(unknown, headers=mine).status_code == 404
    listed = client.get("/fhir/Task", headers=mine).get_json()
    assert [e["resource"]["id"] for e in listed.get("entry", [])] == [task["id"]]


def test_an_open_referral_offered_by_npi_is_claimed_by_that_agency(
        client, auth_headers, sunrise):
    hub = auth_headers("system/*.cruds system/Case.cruds")
    body = _body([{"id": "pt-open", "service": _referral("x", FHIR_AGENCY, "x")["service"],
                   "agency": None, "status": "requested", "reason": "physiotherapy",
                   "offered_to": [_by_npi("x")["agency"]]}])
    case = _open(client, hub, body)
    path = f"/fhir/Task/{resource_id(case['id'], 'task', 'pt-open')}"
    mine, other = _agency(auth_headers, FHIR_AGENCY), _agency(auth_headers, OTHER)
    assert client.get(path, headers=other).status_code == 404
    task = client.get(path, headers=mine).get_json()
    assert task["restriction"]["recipient"][0]["reference"] == FHIR_AGENCY
    # the agency claims it as itself, its Organization with the NPI it was offered under
    owner = {"reference": FHIR_AGENCY, "identifier": {"system": NPI, "value": SUNRISE_NPI}}
    claimed = client.put(path, json={**task, "status": "accepted", "owner": owner},
                         headers={**mine, "If-Match": f'W/"{task["meta"]["versionId"]}"'})
    assert claimed.status_code == 200, claimed.get_json()
    referral = client.get(f"/api/cases/{case['id']}", headers=hub).get_json()["referrals"][0]
    assert referral["status"] == "accepted"


def _open_by_npi(client, hub) -> tuple[dict, str]:
    body = _body([{"id": "pt-open", "service": _referral("x", FHIR_AGENCY, "x")["service"],
                   "agency": None, "status": "requested", "reason": "physiotherapy",
                   "offered_to": [_by_npi("x")["agency"]]}])
    case = _open(client, hub, body)
    return case, f"/fhir/Task/{resource_id(case['id'], 'task', 'pt-open')}"


def _put(client, path: str, task: dict, headers: dict, **changes):
    return client.put(path, json={**task, **changes},
                      headers={**headers, "If-Match": f'W/"{task["meta"]["versionId"]}"'})


def _referral_of(client, hub: dict, case: dict) -> dict:
    return client.get(f"/api/cases/{case['id']}", headers=hub).get_json()["referrals"][0]


def _claim(client, auth_headers, owner: dict):
    """Sunrise claims the referral offered to it by NPI naming ``owner``: (the hub's
    headers, the case, the Task's path, Sunrise's headers, the Task read before, answer)."""
    hub = auth_headers("system/*.cruds system/Case.cruds")
    case, path = _open_by_npi(client, hub)
    mine = _agency(auth_headers, FHIR_AGENCY)
    task = client.get(path, headers=mine).get_json()
    return hub, case, path, mine, task, _put(client, path, task, mine, status="accepted",
                                             owner=owner)


@pytest.mark.parametrize("owner", [
    {"reference": FHIR_AGENCY},
    {"reference": FHIR_AGENCY, "display": "Sunrise",
     "identifier": {"system": NPI, "value": SUNRISE_NPI}},
], ids=["by-reference-alone", "by-reference-and-npi"])
def test_the_agency_claims_an_open_referral_offered_by_npi_naming_itself(
        client, auth_headers, sunrise, owner):
    hub, case, path, mine, _, claimed = _claim(client, auth_headers, owner)
    assert claimed.status_code == 200, claimed.get_json()
    referral = _referral_of(client, hub, case)
    assert referral["status"] == "accepted"
    agency = referral["agency"]
    assert (agency["identifier"]["system"], agency["identifier"]["value"]) == (NPI, SUNRISE_NPI)
    # still its Task: it moves it on, naming itself the same way
    task = client.get(path, headers=mine).get_json()
    started = _put(client, path, task, mine, status="in-progress", owner=owner)
    assert started.status_code == 200, started.get_json()
    assert _referral_of(client, hub, case)["status"] == "in-progress"


@pytest.mark.parametrize("owner", [
    {"reference": OTHER},
    {"identifier": {"system": NPI, "value": "9999999999"}},
    {"reference": OTHER, "identifier": {"system": NPI, "value": SUNRISE_NPI}},
    # not done: its own NPI alone would take the Task out of its compartment
    {"identifier": {"system": NPI, "value": SUNRISE_NPI}},
], ids=["other-reference", "other-identifier", "other-reference-with-its-npi",
        "its-npi-alone"])
def test_the_agency_cannot_give_an_open_referral_offered_by_npi_to_another(
        client, auth_headers, sunrise, owner):
    hub, case, path, mine, task, refused = _claim(client, auth_headers, owner)
    assert refused.status_code == 404, refused.get_json()
    assert client.get(path, headers=mine).get_json()["meta"] == task["meta"]
    referral = _referral_of(client, hub, case)
    assert referral["status"] == "requested" and not referral.get("agency")


@pytest.mark.parametrize("owner", [
    {"reference": OTHER},
    {"reference": FHIR_AGENCY},
    {"identifier": {"system": NPI, "value": SUNRISE_NPI}},
], ids=["itself", "the-agency-reference", "the-agency-npi"])
def test_another_agency_cannot_claim_an_open_referral_offered_by_npi(
        client, auth_headers, sunrise, owner):
    """Not offered to it, so hidden: the claim answers as for an absent Task."""
    hub = auth_headers("system/*.cruds system/Case.cruds")
    case, path = _open_by_npi(client, hub)
    task = client.get(path, headers=hub).get_json()
    other = _agency(auth_headers, OTHER)
    refused = _put(client, path, task, other, status="accepted", owner=owner)
    absent_path = path.replace("/Task/", "/Task/x")
    absent = _put(client, absent_path, task, other, status="accepted", owner=owner,
                  id=absent_path.split("/")[-1])
    assert refused.status_code == absent.status_code == 404
    said = refused.get_json()["issue"][0]
    assert said["code"] == absent.get_json()["issue"][0]["code"]
    assert said["diagnostics"].replace(path.split("/")[-1], "") == \
        absent.get_json()["issue"][0]["diagnostics"].replace(absent_path.split("/")[-1], "")
    referral = _referral_of(client, hub, case)
    assert referral["status"] == "requested" and not referral.get("agency")


@pytest.mark.integration
def test_the_agency_named_by_npi_gets_the_referral_and_its_work_is_pulled_back(
        app, client, auth_headers, agency_base):
    partner = Partner(id="sunrise", kind="agency", base_url=agency_base,
                      organization=FHIR_AGENCY, organization_identifier=f"{NPI}|{SUNRISE_NPI}",
                      receives=("ServiceRequest", "Task"), poll_seconds=900,
                      timeouts=Timeouts(connect=0.5, read=5.0), patient="create")
    hub, agency = HubHarness(app, {"sunrise": partner}), Peer(agency_base)
    try:
        case = _open(client, auth_headers("system/*.cruds"), _body([_by_npi("pt-npi")]))
        hub.drain()
        assert not hub.dead(), [(r.resource_type, r.last_error) for r in hub.dead()]
        [task] = agency.ours("Task", resource_id(case["id"], "task", "pt-npi"))
        assert task["status"] == "requested"
        task["status"] = "accepted"
        agency.update(task)
        hub.pull("sunrise", "Task")
        referral = hub.case(case["id"]).referral("pt-npi")
        assert referral.status == c.ReferralStatus.ACCEPTED
        assert [h.status for h in referral.history if h.by == "owner"] == ["accepted"]
    finally:
        hub.close()
