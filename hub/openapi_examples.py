"""Example bodies of the OpenAPI description (``hub.openapi``): small, valid, fictional."""

from __future__ import annotations

from typing import Any

SNOMED = "http://snomed.info/sct"

CASE_INPUT: dict[str, Any] = {
    "patient": {
        "name": {"family": "Rivera", "given": ["Rosa"]},
        "birth_date": "1948-05-02",
        "gender": "female",
        "identifiers": [{"system": "urn:oid:2.16.840.1.113883.19.5.1", "value": "MRN-0001",
                         "kind": "mrn"}],
    },
    "model": "clinical",
    "setting": "hospital",
    "program": "chronic-heart-failure",
    "case_manager": {"name": "Alex Morgan", "reference": "Practitioner/cm-alex-morgan"},
    "managing_organization": {"name": "Lakeside General Hospital", "identifier": {
        "system": "http://hl7.org/fhir/sid/us-npi", "value": "1487659211"}},
    "plan": {"goals": [{"id": "walk", "description": "Walk 50 m without help"}]},
    "referrals": [{"id": "hh", "service": {"system": SNOMED, "code": "385763009",
                                           "display": "Hospice care"},
                   "agency": {"name": "Sunrise Home Health"}, "status": "requested"}],
}

CASE: dict[str, Any] = {
    **CASE_INPUT,
    "id": "5f0c1d9e-0b7e-4c55-9f55-1d3e2f0a8b71",
    "version": 3,
    "status": "assessment",
    "opened_at": "2026-11-02T09:15:00+00:00",
    "closed_at": None,
    "status_history": [{"status": "intake", "at": "2026-11-02T09:15:00+00:00",
                        "by": "ui-client", "reason": None},
                       {"status": "assessment", "at": "2026-11-03T10:00:00+00:00",
                        "by": "ui-client", "reason": None}],
    "review_interval_days": None,
    "assessment": {"assessed_on": "2026-11-03", "needs": ["mobility"], "strengths": [],
                   "conditions": [], "assessor": None, "summary": None},
    "care_team": [],
    "funding": [],
    "encounters": [],
    "reviews": [],
    "notes": [],
    "next_review_due": "2026-12-02",
}

CASE_PATCH = {"program": "housing", "case_manager": {"name": "Sam Lee"}}

CASE_PAGE = {
    "items": [{
        "id": CASE["id"], "version": 3, "status": "assessment",
        "patient": {"name": {"family": "Rivera", "given": ["Rosa"]},
                    "birth_date": "1948-05-02", "gender": "female",
                    "identifiers": CASE_INPUT["patient"]["identifiers"]},
        "model": "clinical", "setting": "hospital", "program": "chronic-heart-failure",
        "case_manager": {"name": "Alex Morgan", "identifier": None,
                         "reference": "Practitioner/cm-alex-morgan"},
        "opened_at": "2026-11-02T09:15:00+00:00", "closed_at": None, "plan_status": "draft",
        "next_review_due": "2026-12-02", "review_overdue": False,
        "href": f"/api/cases/{CASE['id']}"}],
    "total": 41, "limit": 20, "offset": 20,
    "next": "/api/cases?sort=next_review_due&limit=20&offset=40",
    "previous": "/api/cases?sort=next_review_due&limit=20&offset=0",
}

PROBLEM = {"status": 422, "message": "1 invalid field",
           "errors": {"status": ["read-only: set by the server; differs from the stored "
                                 "value; use POST /api/cases/{id}/transitions"]}}

TRANSITION = {"to": "planning", "reason": "assessment done"}
APPROVAL = {"approved_by": {"name": "Dr Robin Vale", "reference": "Practitioner/dr-vale"}}
REVIEW = {"mode": "phone", "outcome": "on-track", "notes": "walking with a frame",
          "goal_updates": {"walk": "improving"}}
NOTE = {"text": "Daughter will attend the next review.", "author": "Alex Morgan"}

ELIGIBILITY = {"funding_id": "medicare", "purposes": ["benefits"],
               "services": [{"system": SNOMED, "code": "385763009"}]}
PRIOR_AUTH = {"funding_id": "medicare", "items": [
    {"service": {"system": "http://www.ama-assn.org/go/cpt", "code": "99509"},
     "quantity": 12}]}
COVERAGE_ACCEPTED = {"id": "0b1c8d4e-6f1a-4b7a-9e1e-3c1f5d0e7a21", "kind": "eligibility",
                     "state": "submitted", "resource": "CoverageEligibilityRequest/0b1c",
                     "partner": "acme-health", "delivery_id": 17, "case_version": 4,
                     "status": "/api/cases/5f0c/coverage-requests/0b1c8d4e"}
COVERAGE_REQUEST = {"id": "0b1c8d4e-6f1a-4b7a-9e1e-3c1f5d0e7a21", "kind": "eligibility",
                    "state": "answered", "partner": "acme-health",
                    "delivery": {"id": 17, "status": "done"}}

DELIVERY = {"id": 17, "partner_id": "st-marys", "case_id": "5f0c", "resource_type": "CarePlan",
            "resource_id": "9a1f", "operation": "update", "status": "dead", "attempts": 10,
            "last_status": 503, "last_error": "HTTP 503 from the partner"}
REPLAYED = {"replayed": [17, 18]}
VERIFY = {"partner": "st-marys",
          "summary": {"ok": 12, "missing": 1, "changed": 0, "unknown": 0},
          "resources": [{"resource_type": "CarePlan", "resource_id": "9a1f",
                         "remote_id": "4411", "state": "missing", "detail": "404 at the "
                         "partner", "repair": None}]}
TOKEN = {"access_token": "eyJhbGciOi...", "token_type": "Bearer", "expires_in": 300,
         "scope": "system/Case.cruds"}
