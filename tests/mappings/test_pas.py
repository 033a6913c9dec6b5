"""Da Vinci PAS: request Bundle out, ClaimResponse in, the roll-up."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fhircheck import EXAMPLES, validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_coverage import aware, codes, new_case, periods, words

from hub import cases as c
from hub.fhir import parse_resource
from hub.mappings.errors import MappingError, Report
from hub.mappings.pas import (
    ItemResult,
    PriorAuthItem,
    PriorAuthRequest,
    apply_claim_response,
    claim_response_results,
    pas_request_bundle,
    pas_request_from_fhir,
    pas_response_bundle,
    rollup,
)

UTC = UTC
D = c.DecisionStatus
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
items = st.builds(PriorAuthItem, decision_id=st.uuids().map(str), service=codes,
                  category=codes, location=st.none() | codes,
                  certification=st.sampled_from(["I", "3"]),
                  quantity=st.none() | st.integers(1, 500), period=st.none() | periods)
requests = st.builds(PriorAuthRequest, funding_id=st.just("f1"), created=aware,
                     provider=st.builds(c.Party, name=words),
                     items=st.lists(items, min_size=1, max_size=4),
                     claim_type=st.sampled_from(["professional", "institutional"]),
                     priority=st.sampled_from(["stat", "normal", "deferred"]))


def _case():
    case = new_case()
    case.funding.append(c.FundingSource(kind=c.FundingKind.INSURANCE, payer=c.Party("Acme"),
                                        id="f1", member_id="M1"))
    return case


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests)
def test_request_bundle_round_trips(req):
    case = _case()
    bundle = pas_request_bundle(case, req)
    parse_resource(bundle)
    assert pas_request_from_fhir(bundle, case.id, case=case) == req
    assert pas_request_from_fhir(bundle) == req


def _request():
    return PriorAuthRequest(
        funding_id="f1", created=datetime(2024, 3, 1, 9, tzinfo=UTC),
        provider=c.Party("County Case Management"),
        items=[PriorAuthItem("d1", c.Code(HCPCS, "S9500")), PriorAuthItem("d2", c.Code(HCPCS, "G0299"),
                                                                          quantity=12)])


def test_request_bundle_shape_claim_first_and_transitive():
    case = _case()
    bundle = pas_request_bundle(case, _request())
    assert bundle["type"] == "collection"
    assert bundle["meta"]["profile"] == [
        "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-request-bundle"]
    claim = bundle["entry"][0]["resource"]
    assert claim["resourceType"] == "Claim" and claim["use"] == "preauthorization"
    assert claim["status"] == "active"
    assert claim["insurance"] == [{"sequence": 1, "focal": True,
                                   "coverage": claim["insurance"][0]["coverage"]}]
    item = claim["item"][0]
    urls = {e["url"] for e in item["extension"]}
    assert {"http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-serviceItemRequestType",
            "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-certificationType"} <= urls
    assert item["category"]["coding"][0]["code"] == "42"
    assert item["locationCodeableConcept"]["coding"][0]["code"] == "12"
    present = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for e in bundle["entry"]:
        assert e["fullUrl"].endswith(f"{e['resource']['resourceType']}/{e['resource']['id']}")
        for ref in json.dumps(e["resource"]).split('"reference": "')[1:]:
            assert ref.split('"')[0] in present
    assert {p.split("/")[0] for p in present} == {"Claim", "Patient", "Coverage", "Organization"}


def test_unresolvable_reference_names_the_path():
    case = _case()
    case.funding[0].payer = c.Party("Acme", reference="Organization/acme")
    with pytest.raises(MappingError) as err:
        pas_request_bundle(case, _request())
    assert err.value.path.startswith("Claim.insurer")
    bundle = pas_request_bundle(case, _request(), resources={"Organization/acme": {
        "resourceType": "Organization", "id": "acme", "name": "Acme"}})
    assert any(e["resource"]["id"] == "acme" for e in bundle["entry"])


@pytest.mark.parametrize("codes_,expected", [
    (["A1", "A1"], D.AUTH_APPROVED), (["A1", "A4"], D.AUTH_PENDED), (["A3", "A3"], D.AUTH_DENIED),
    (["A1", "A3"], D.AUTH_PARTIAL), (["A2"], D.AUTH_PARTIAL), (["A6"], D.AUTH_MODIFIED),
    (["A3", "A4"], D.AUTH_PENDED), (["C"], D.AUTH_CANCELLED), (["A1", "A6"], D.AUTH_PARTIAL),
])
def test_rollup(codes_, expected):
    from hub.mappings.codes import REVIEW_ACTION
    assert rollup([D(REVIEW_ACTION[x]) for x in codes_]) == expected


def test_apply_response_sets_item_decisions_and_outcome_complete_is_not_approval():
    case = _case()
    req = _request()
    results = [ItemResult(1, D.AUTH_DENIED), ItemResult(2, D.AUTH_APPROVED, authorization_number="AUTH1",
                                                        period=c.Period(datetime(2024, 3, 2).date(),
                                                                        datetime(2024, 4, 1).date()),
                                                        quantity=10)]
    resp = pas_response_bundle(case, req, results, datetime(2024, 3, 1, 10, tzinfo=UTC))
    assert resp["entry"][0]["resource"]["outcome"] == "complete"
    report = apply_claim_response(case, resp, req)
    got = {d.id: d for d in case.funding[0].decisions}
    assert got["d1"].status == D.AUTH_DENIED
    assert got["d2"].status == D.AUTH_APPROVED and got["d2"].authorization_number == "AUTH1"
    assert got["d2"].quantity == 10 and got["d2"].period.end == datetime(2024, 4, 1).date()
    assert any(i.path == "ClaimResponse" and i.message.endswith("authorization-partial")
               for i in report.items)


# --- the PAS IG examples ------------------------------------------------------------------

BUNDLES = EXAMPLES / "_PAS-bundles-and-messages"
REQUEST_BUNDLES = ["HomecareAuthorizationBundleExample", "HomecareAuthorizationUpdateBundleExample",
                   "MedicalServicesAuthorizationBundleExample", "ReferralAuthorizationBundleExample",
                   "SurgicalRequestBundleExample"]
RESPONSES = {  # response bundle -> expected item statuses
    "ReferralAuthorizationResponseBundleExample": None,
    "ReferralPendingAuthorizationResponseBundleExample": [D.AUTH_PENDED],
    "RejectionResponseBundleExample": [D.AUTH_DENIED],
    "ErrorResponseBundleExample": [],
}


def _load(name):
    return json.loads((BUNDLES / f"pas__{name}.json").read_text())


def _index(bundle):
    """The Bundle's own resources (the partner's provider, practitioners...), by Type/id."""
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
            for e in bundle["entry"][1:]}


@pytest.mark.parametrize("name", REQUEST_BUNDLES)
def test_request_bundle_examples_read_and_written_back(name, tmp_path):
    data = _load(name)
    req = pas_request_from_fhir(data)
    claim = data["entry"][0]["resource"]
    case = new_case()
    case.funding.append(c.FundingSource(kind=c.FundingKind.INSURANCE, payer=c.Party("Insurer"),
                                        id=req.funding_id))
    out = pas_request_bundle(case, req, resources=_index(data))
    parse_resource(out)
    new = out["entry"][0]["resource"]
    assert new["type"]["coding"][0]["code"] == claim["type"]["coding"][0]["code"]
    assert new["priority"]["coding"][0]["code"] == claim["priority"]["coding"][0]["code"]
    assert len(new["item"]) == len(claim["item"])
    for a, b in zip(new["item"], claim["item"]):
        for key in ("sequence", "category", "productOrService", "locationCodeableConcept",
                    "servicedPeriod"):
            if key in ("category", "productOrService", "locationCodeableConcept") and key in b:
                assert a[key]["coding"][0]["code"] == b[key]["coding"][0]["code"], key
            elif key in b:
                assert a[key] == b[key], key


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_bundle_examples(name):
    data = _load(name)
    report = Report()
    results = claim_response_results(data, report)
    expected = RESPONSES[name]
    if expected is not None:
        assert [r.status for r in results] == expected
    if name == "ErrorResponseBundleExample":
        assert report.unknown_codes  # X12 error codes kept in the report


@pytest.mark.parametrize("path", sorted((EXAMPLES / "ClaimResponse").glob("pas__*.json")),
                         ids=lambda p: p.name)
def test_pas_claim_response_examples(path):
    data = json.loads(path.read_text())
    results = claim_response_results(data)
    for r, item in zip(results, data.get("item") or []):
        assert r.sequence == item["itemSequence"]
        assert r.status in (D.AUTH_APPROVED, D.AUTH_PENDED, D.AUTH_DENIED)
    approved = [r for r in results if r.status == D.AUTH_APPROVED]
    assert all(r.authorization_number for r in approved)


def test_core_claim_responses_are_refused_as_not_preauthorization():
    data = json.loads((EXAMPLES / "ClaimResponse" / "r4core__R3500.json").read_text())
    with pytest.raises(MappingError) as err:
        claim_response_results(data)
    assert err.value.path == "ClaimResponse.use"


def test_emitted_bundles_validate(tmp_path):
    case = _case()
    req = _request()
    resources = [pas_request_bundle(case, req),
                 pas_response_bundle(case, req, [ItemResult(1, D.AUTH_PENDED),
                                                 ItemResult(2, D.AUTH_APPROVED, authorization_number="A")],
                                     datetime(2024, 3, 1, tzinfo=UTC))]
    for name in REQUEST_BUNDLES:
        r = pas_request_from_fhir(_load(name))
        case2 = new_case()
        case2.funding.append(c.FundingSource(kind=c.FundingKind.INSURANCE, payer=c.Party("I"),
                                             id=r.funding_id))
        resources.append(pas_request_bundle(case2, r, resources=_index(_load(name))))
    results = validate(resources, tmp_path)  # a Bundle gives a line per entry as well
    assert len(results) >= len(resources)
    failed = [(r["resource"], r["issues"]) for r in results if r["status"] != "PASS"]
    assert not failed, failed
