"""CoverageEligibilityRequest out / CoverageEligibilityResponse in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhircheck import assert_valid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_coverage import aware, codes, dates, load, new_case, parties

from hub import cases as c
from hub.fhir import parse_resource
from hub.mappings.coverage import coverage_reference
from hub.mappings.eligibility import (
    EligibilityRequest,
    apply_eligibility_response,
    eligibility_request_from_fhir,
    eligibility_request_to_fhir,
    eligibility_response_decisions,
)
from hub.mappings.errors import MappingError, Report

UTC = UTC
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
requests = st.builds(EligibilityRequest, funding_id=st.just("f1"), created=aware,
                     purposes=st.lists(st.sampled_from(["validation", "benefits",
                                                        "auth-requirements", "discovery"]),
                                       min_size=1, max_size=4, unique=True),
                     services=st.lists(codes, max_size=3), category=st.none() | codes,
                     serviced=st.none() | dates, provider=st.none() | parties)


def _case():
    case = new_case()
    case.funding.append(c.FundingSource(kind=c.FundingKind.INSURANCE, payer=c.Party("Acme"),
                                        id="f1", member_id="M1"))
    return case


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_request_round_trips(req):
    case = _case()
    out = eligibility_request_to_fhir(case, req)
    parse_resource(out)
    assert out["status"] == "active" and out["insurance"][0]["focal"] is True
    assert eligibility_request_from_fhir(out, case.id, case=case) == req
    assert eligibility_request_from_fhir(out) == req


def _response(case, items, inforce=True, outcome="complete"):
    return {"resourceType": "CoverageEligibilityResponse", "id": "r1", "status": "active",
            "purpose": ["auth-requirements"], "patient": {"reference": "Patient/p"},
            "created": "2024-03-01T10:00:00Z", "request": {"reference": "CoverageEligibilityRequest/q"},
            "outcome": outcome, "insurer": {"reference": "Organization/acme"},
            "insurance": [{"coverage": coverage_reference(case.id, "f1"), "inforce": inforce,
                           "item": items}]}


def test_response_sets_decisions():
    case = _case()
    items = [{"productOrService": {"coding": [{"system": HCPCS, "code": "S9500"}]},
              "excluded": True, "description": "not covered for home use"},
             {"productOrService": {"coding": [{"system": HCPCS, "code": "G0299"}]},
              "authorizationRequired": True},
             {"productOrService": {"coding": [{"system": HCPCS, "code": "99509"}]}}]
    apply_eligibility_response(case, _response(case, items))
    got = {d.service.code: d.status for d in case.funding[0].decisions}
    assert got == {"S9500": c.DecisionStatus.NOT_COVERED, "G0299": c.DecisionStatus.AUTH_NEEDED,
                   "99509": c.DecisionStatus.COVERED}
    assert case.funding[0].decisions[0].note == "not covered for home use"
    assert case.funding[0].decisions[0].decided_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    # an authorization obtained meanwhile is not overwritten by a later eligibility answer
    case.funding[0].decisions[1].status = c.DecisionStatus.AUTH_APPROVED
    apply_eligibility_response(case, _response(case, items))
    assert case.funding[0].decisions[1].status == c.DecisionStatus.AUTH_APPROVED


def test_not_in_force_and_errors():
    case = _case()
    items = [{"productOrService": {"coding": [{"system": HCPCS, "code": "S9500"}]}}]
    apply_eligibility_response(case, _response(case, items, inforce=False))
    assert case.funding[0].decisions[0].status == c.DecisionStatus.NOT_COVERED
    req = EligibilityRequest(funding_id="f1", created=datetime(2024, 3, 1, tzinfo=UTC),
                             services=[c.Code(HCPCS, "G0299")])
    data = _response(case, [], outcome="error")
    data["error"] = [{"code": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/adjudication-error", "code": "a001"}]}}]
    report = apply_eligibility_response(case, data, request=req)
    assert {d.service.code: d.status for d in case.funding[0].decisions}["G0299"] == \
        c.DecisionStatus.ERROR
    assert report.unknown_codes[0].code == "a001"
    with pytest.raises(MappingError) as err:
        apply_eligibility_response(new_case(), _response(case, items))
    assert err.value.path.endswith(".coverage")


REQUEST_FILES = load("CoverageEligibilityRequest")
RESPONSE_FILES = load("CoverageEligibilityResponse")


@pytest.mark.parametrize("name,data", REQUEST_FILES, ids=[n for n, _ in REQUEST_FILES])
def test_request_examples(name, data):
    req = eligibility_request_from_fhir(data)
    case = new_case()
    case.funding.append(c.FundingSource(kind=c.FundingKind.INSURANCE, payer=c.Party("P"),
                                        id=req.funding_id))
    out = eligibility_request_to_fhir(case, req)
    parse_resource(out)
    assert out["purpose"] == data["purpose"]
    assert out["created"][:10] == data["created"][:10]
    assert out.get("servicedDate") == data.get("servicedDate")
    assert [i.get("category") for i in out.get("item", [])] == \
        [i.get("category") for i in data.get("item", [])]
    assert out["provider"]["reference"] == data["provider"]["reference"]


@pytest.mark.parametrize("name,data", RESPONSE_FILES, ids=[n for n, _ in RESPONSE_FILES])
def test_response_examples(name, data):
    report = Report()
    per_cov = eligibility_response_decisions(data, report)
    assert len(per_cov) == len(data.get("insurance") or [])
    for (_ref, decisions), ins in zip(per_cov, data.get("insurance") or []):
        assert len(decisions) == len(ins.get("item") or [])
        for d, item in zip(decisions, ins.get("item") or []):
            expected = (c.DecisionStatus.NOT_COVERED if ins.get("inforce") is False
                        or item.get("excluded") else c.DecisionStatus.AUTH_NEEDED
                        if item.get("authorizationRequired") else c.DecisionStatus.COVERED)
            assert d.status == expected
    if data["outcome"] == "error":
        assert report.unknown_codes


def test_emitted_requests_validate(tmp_path):
    case = _case()
    out = [eligibility_request_to_fhir(case, EligibilityRequest(
        funding_id="f1", created=datetime(2024, 3, 1, tzinfo=UTC),
        purposes=["validation", "auth-requirements"], services=[c.Code(HCPCS, "S9500")],
        category=c.Code("https://codesystem.x12.org/005010/1365", "42", "Home Health Care"),
        serviced=datetime(2024, 3, 2).date(), provider=c.Party("Hub", reference="Organization/hub")))]
    for _, data in REQUEST_FILES:
        req = eligibility_request_from_fhir(data)
        case2 = new_case()
        case2.funding.append(c.FundingSource(kind=c.FundingKind.INSURANCE, payer=c.Party("P"),
                                             id=req.funding_id))
        out.append(eligibility_request_to_fhir(case2, req))
    assert_valid(out, tmp_path)
