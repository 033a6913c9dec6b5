"""Issue 9.1, as the attacker tries it: widening a partner compartment by what it writes.

Agency A (``system/*.cruds``, bound to ``Organization/agency-a``) knows the ids of agency
B's case (patient 2, its CarePlan, Coverage, an Encounter). It writes resources that point
at them, then tries to read them. Compartment membership comes only from links the hub
made, and a partner may reference only what it already sees: every such write is refused
(403, nothing stored) and every read stays 404.
"""

import uuid

import pytest
from partner_world import AGENCY_A, INSURER_X, eligibility_request, ref, visit

HH = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"}


@pytest.fixture
def agency_a(fhir_as):
    return fhir_as("system/*.cruds", organization=AGENCY_A)


@pytest.fixture
def victim(world, fhir):
    """Agency B's case, plus an Encounter of patient 2 the hub recorded."""
    enc = fhir.create({"resourceType": "Encounter", "status": "finished", "class": HH,
                       "subject": {"reference": ref(world["patient2"])}})
    return {"patient": ref(world["patient2"]), "careplan": ref(world["careplan2"]),
            "coverage": ref(world["coverage2"]), "encounter": ref(enc)}


def _all_hidden(client, victim: dict) -> None:
    for target in victim.values():
        resp = client.get(f"/fhir/{target}")
        assert resp.status_code == 404, (target, resp.get_json())
    patients = client.get(f"/fhir/Patient?_id={victim['patient'].split('/')[1]}")
    assert patients.get_json()["total"] == 0


def _stored(fhir, rtype: str) -> int:
    return fhir.get(f"/fhir/{rtype}?_summary=count").get_json()["total"]


def _own_service_request(victim: dict) -> dict:
    return {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "code": {"text": "home visit"}, "subject": {"reference": victim["patient"]},
            "performer": [{"reference": AGENCY_A}],
            "supportingInfo": [{"reference": victim["careplan"]}],
            "insurance": [{"reference": victim["coverage"]}],
            "encounter": {"reference": victim["encounter"]}}


def test_own_service_request_pointing_at_another_case(world, fhir, agency_a, victim):
    _all_hidden(agency_a, victim)
    before = _stored(fhir, "ServiceRequest")
    resp = agency_a.post("/fhir/ServiceRequest", _own_service_request(victim))
    assert resp.status_code == 403
    assert resp.get_json()["issue"][0]["code"] == "forbidden"
    assert _stored(fhir, "ServiceRequest") == before
    _all_hidden(agency_a, victim)
    # one reference at a time, so no single element is the only one checked
    for element, value in (("subject", {"reference": victim["patient"]}),
                           ("supportingInfo", [{"reference": victim["careplan"]}]),
                           ("insurance", [{"reference": victim["coverage"]}]),
                           ("encounter", {"reference": victim["encounter"]})):
        body = {**_own_service_request(victim), "subject": {"reference":
                                                            ref(world["patient1"])}}
        for key in ("supportingInfo", "insurance", "encounter"):
            body.pop(key)
        body[element] = value
        resp = agency_a.post("/fhir/ServiceRequest", body)
        assert resp.status_code == 403, element
        assert resp.get_json()["issue"][0]["expression"][0].startswith(
            f"ServiceRequest.{element}")
    _all_hidden(agency_a, victim)


def test_the_same_inside_a_transaction_and_through_contained(world, fhir, agency_a,
                                                             victim):
    task_url = "urn:uuid:" + str(uuid.uuid4())
    sr_url = "urn:uuid:" + str(uuid.uuid4())
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": task_url, "request": {"method": "POST", "url": "Task"},
         "resource": {"resourceType": "Task", "status": "requested", "intent": "order",
                      "owner": {"reference": AGENCY_A}, "focus": {"reference": sr_url},
                      "for": {"reference": victim["patient"]}}},
        {"fullUrl": sr_url, "request": {"method": "POST", "url": "ServiceRequest"},
         "resource": _own_service_request(victim)}]}
    resp = agency_a.post("/fhir", bundle)
    assert resp.status_code == 403, resp.get_json()
    _all_hidden(agency_a, victim)
    # a contained resource is the writer's own; it does not open anything outside
    contained = {**_own_service_request(victim), "contained": [{
        "resourceType": "Patient", "id": "p", "name": [{"family": "Contained"}]}],
        "subject": {"reference": "#p"}}
    for key in ("supportingInfo", "insurance", "encounter"):
        contained.pop(key)
    resp = agency_a.post("/fhir/ServiceRequest", contained)
    assert resp.status_code == 201, resp.get_json()
    contained["contained"][0]["link"] = [{"other": {"reference": victim["patient"]},
                                          "type": "seealso"}]
    assert agency_a.post("/fhir/ServiceRequest", contained).status_code == 403
    _all_hidden(agency_a, victim)


def test_provenance_written_by_the_partner(world, fhir, agency_a, victim):
    resp = agency_a.post("/fhir/Provenance", {
        "resourceType": "Provenance", "recorded": "2024-03-01T10:00:00Z",
        "target": [{"reference": victim["encounter"]}],
        "agent": [{"who": {"reference": AGENCY_A}}]})
    assert resp.status_code == 405
    _all_hidden(agency_a, victim)


def test_insurer_names_any_patient_in_its_request(world, fhir, fhir_as, victim):
    insurer = fhir_as("system/*.cruds", organization=INSURER_X)
    _all_hidden(insurer, {"patient": victim["patient"], "coverage": victim["coverage"]})
    before = _stored(fhir, "CoverageEligibilityRequest")
    resp = insurer.post("/fhir/CoverageEligibilityRequest",
                        eligibility_request(victim["patient"], victim["coverage"],
                                            INSURER_X))
    assert resp.status_code == 403
    assert _stored(fhir, "CoverageEligibilityRequest") == before
    _all_hidden(insurer, {"patient": victim["patient"], "coverage": victim["coverage"]})


def test_task_put_created_for_any_patient(world, fhir, agency_a, victim):
    body = {"resourceType": "Task", "id": "mine-1", "status": "requested",
            "intent": "order", "owner": {"reference": AGENCY_A},
            "for": {"reference": victim["patient"]}}
    resp = agency_a.put("/fhir/Task/mine-1", body)
    assert resp.status_code == 404  # a partner never picks the id of a new resource
    del body["id"]
    assert agency_a.post("/fhir/Task", body).status_code == 403
    resp = agency_a.put("/fhir/Task?identifier=urn:x|1", body)
    assert resp.status_code == 403
    _all_hidden(agency_a, victim)
    assert fhir.get("/fhir/Task/mine-1").status_code == 404


def test_rewriting_a_visible_referral_makes_no_new_links(world, fhir, agency_a, victim):
    sr = world["sr_a"]
    widened = {**sr, "supportingInfo": [*sr["supportingInfo"],
                                        {"reference": victim["careplan"]}]}
    resp = agency_a.put(f"/fhir/{ref(sr)}", widened, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 403
    _all_hidden(agency_a, victim)
    # a hub-made link dropped by the partner stays: its links are the hub's, not its own
    narrowed = {**sr, "supportingInfo": sr["supportingInfo"][:1]}
    resp = agency_a.put(f"/fhir/{ref(sr)}", narrowed, headers={"If-Match": 'W/"1"'})
    assert resp.status_code == 200
    assert agency_a.get(f"/fhir/{sr['supportingInfo'][1]['reference']}").status_code == 200


def test_what_a_partner_writes_within_its_compartment_still_works(world, agency_a):
    resp = agency_a.post("/fhir/Encounter", visit(ref(world["patient1"]),
                                                  ref(world["sr_a"]), AGENCY_A))
    assert resp.status_code == 201
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "Pain"},
           "subject": {"reference": ref(world["patient1"])},
           "encounter": {"reference": ref(resp.get_json())}, "valueInteger": 2}
    assert agency_a.post("/fhir/Observation", obs).status_code == 201
