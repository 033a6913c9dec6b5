"""A small world of partners for the compartment, Provenance and insurer-pull tests.

Two home-health agencies (``agency-a``, ``agency-b``), two insurers (``insurer-x``,
``insurer-y``) and the hub. Agency A has a referral (ServiceRequest + Task) for patient 1
with its CarePlan, Coverage, Condition and DocumentReference; agency B has one for
patient 2 and one for patient 1 (the same patient referred to both); one open referral
(no owner, no performer) for patient 3. Insurer X has an eligibility request and a
prior-authorization Claim for patient 1; insurer Y has an eligibility request for
patient 2. Every resource is valid R4.
"""

from __future__ import annotations

import json

import fhir_validator
from fhirapi_helpers import organization, patient, service_request, task

AGENCY_A, AGENCY_B = "Organization/agency-a", "Organization/agency-b"
INSURER_X, INSURER_Y = "Organization/insurer-x", "Organization/insurer-y"
HUB = "Organization/hub"
HH = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH",
      "display": "home health"}


def _ref(res: dict) -> str:
    return f"{res['resourceType']}/{res['id']}"


def careplan(patient_ref: str) -> dict:
    return {"resourceType": "CarePlan", "status": "active", "intent": "plan",
            "subject": {"reference": patient_ref}}


def coverage(patient_ref: str, payor: str) -> dict:
    return {"resourceType": "Coverage", "status": "active",
            "beneficiary": {"reference": patient_ref}, "payor": [{"reference": payor}]}


def condition(patient_ref: str) -> dict:
    return {"resourceType": "Condition", "subject": {"reference": patient_ref},
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": {"text": "Heart failure"}}


def document(patient_ref: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "subject": {"reference": patient_ref},
            "content": [{"attachment": {"contentType": "application/pdf",
                                        "url": "http://hub.example/docs/summary.pdf"}}]}


def visit(patient_ref: str, sr_ref: str, provider: str) -> dict:
    return {"resourceType": "Encounter", "status": "finished", "class": HH,
            "subject": {"reference": patient_ref}, "basedOn": [{"reference": sr_ref}],
            "serviceProvider": {"reference": provider},
            "period": {"start": "2024-03-05T09:00:00Z", "end": "2024-03-05T10:00:00Z"}}


def eligibility_request(patient_ref: str, coverage_ref: str, insurer: str) -> dict:
    return {"resourceType": "CoverageEligibilityRequest", "status": "active",
            "purpose": ["validation"], "patient": {"reference": patient_ref},
            "created": "2024-03-01", "provider": {"reference": HUB},
            "insurer": {"reference": insurer},
            "insurance": [{"focal": True, "coverage": {"reference": coverage_ref}}]}


def eligibility_response(request: dict) -> dict:
    return {"resourceType": "CoverageEligibilityResponse", "status": "active",
            "purpose": ["validation"], "patient": request["patient"],
            "created": "2024-03-02", "request": {"reference": _ref(request)},
            "outcome": "complete", "disposition": "Policy is currently in force.",
            "insurer": request["insurer"],
            "insurance": [{"coverage": request["insurance"][0]["coverage"],
                           "inforce": True}]}


def claim(patient_ref: str, coverage_ref: str, sr_ref: str, insurer: str) -> dict:
    return {"resourceType": "Claim", "status": "active",
            "type": {"coding": [{"system":
                                 "http://terminology.hl7.org/CodeSystem/claim-type",
                                 "code": "professional"}]},
            "use": "preauthorization", "patient": {"reference": patient_ref},
            "created": "2024-03-01T10:00:00Z", "insurer": {"reference": insurer},
            "provider": {"reference": HUB},
            "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "processpriority", "code": "normal"}]},
            "referral": {"reference": sr_ref},
            "insurance": [{"sequence": 1, "focal": True,
                           "coverage": {"reference": coverage_ref}}],
            "item": [{"sequence": 1, "productOrService": {"coding": [{
                "system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                "code": "G0154"}]}}]}


def claim_response(request: dict) -> dict:
    return {"resourceType": "ClaimResponse", "status": "active", "type": request["type"],
            "use": "preauthorization", "patient": request["patient"],
            "created": "2024-03-02T10:00:00Z", "insurer": request["insurer"],
            "request": {"reference": _ref(request)}, "outcome": "complete",
            "preAuthRef": "AUTH-1"}


def build(hub) -> dict[str, dict]:
    """Create the world with the hub's own client; name -> stored resource."""
    w: dict[str, dict] = {}
    for ref, name in ((AGENCY_A, "Agency A"), (AGENCY_B, "Agency B"),
                      (INSURER_X, "Insurer X"), (INSURER_Y, "Insurer Y"), (HUB, "Hub")):
        rid = ref.split("/")[1]
        resp = hub.put(f"/fhir/{ref}", {**organization(name), "id": rid})
        assert resp.status_code in (200, 201), resp.get_json()
        w[rid] = resp.get_json()
    for n in ("1", "2", "3"):
        w[f"patient{n}"] = hub.create(patient(f"mrn-{n}", family=f"Family{n}"))
    p1, p2, p3 = (_ref(w[f"patient{n}"]) for n in "123")
    w["careplan1"] = hub.create(careplan(p1))
    w["careplan2"] = hub.create(careplan(p2))
    w["coverage1"] = hub.create(coverage(p1, INSURER_X))
    w["coverage2"] = hub.create(coverage(p2, INSURER_Y))
    w["condition1"] = hub.create(condition(p1))
    w["document1"] = hub.create(document(p1))
    sr_a = service_request(p1, performer=AGENCY_A)
    sr_a.update(supportingInfo=[{"reference": _ref(w["careplan1"])},
                                {"reference": _ref(w["document1"])}],
                insurance=[{"reference": _ref(w["coverage1"])}],
                reasonReference=[{"reference": _ref(w["condition1"])}])
    w["sr_a"] = hub.create(sr_a)
    w["task_a"] = hub.create(task(p1, focus=_ref(w["sr_a"]), owner=AGENCY_A))
    sr_b = service_request(p2, performer=AGENCY_B)
    sr_b.update(supportingInfo=[{"reference": _ref(w["careplan2"])}],
                insurance=[{"reference": _ref(w["coverage2"])}])
    w["sr_b"] = hub.create(sr_b)
    w["task_b"] = hub.create(task(p2, focus=_ref(w["sr_b"]), owner=AGENCY_B))
    w["sr_b1"] = hub.create(service_request(p1, performer=AGENCY_B))
    w["task_b1"] = hub.create(task(p1, focus=_ref(w["sr_b1"]), owner=AGENCY_B))
    w["sr_open"] = hub.create(service_request(p3))
    w["task_open"] = hub.create(task(p3, focus=_ref(w["sr_open"])))
    w["cer_x"] = hub.create(eligibility_request(p1, _ref(w["coverage1"]), INSURER_X))
    w["claim_x"] = hub.create(claim(p1, _ref(w["coverage1"]), _ref(w["sr_a"]), INSURER_X))
    w["cer_y"] = hub.create(eligibility_request(p2, _ref(w["coverage2"]), INSURER_Y))
    return w


ref = _ref


def validate_all(resources: list[dict]) -> None:
    """Every distinct resource through the independent validator; zero FAIL."""
    fhir_validator.assert_valid(list({json.dumps(r, sort_keys=True): r
                                      for r in resources}.values()))


