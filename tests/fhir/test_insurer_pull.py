"""Insurers pull the coverage requests addressed to them and post their answers.

``GET CoverageEligibilityRequest?insurer=...&_lastUpdated=gt...`` and
``GET Claim?insurer=...&use=preauthorization`` by a client bound to the insurer, then
``POST CoverageEligibilityResponse`` / ``ClaimResponse`` referencing the request.
"""

import pytest
from partner_world import HUB, INSURER_X, INSURER_Y, claim_response, eligibility_response, ref

INSURER_SCOPE = ("system/CoverageEligibilityRequest.rs system/Claim.rs "
                 "system/CoverageEligibilityResponse.crus system/ClaimResponse.crus "
                 "system/Patient.rs system/Coverage.rs system/ServiceRequest.rs "
                 "system/Organization.rs system/Provenance.rs")


@pytest.fixture
def insurer_x(fhir_as):
    return fhir_as(INSURER_SCOPE, organization=INSURER_X)


def _matches(resp) -> list[dict]:
    assert resp.status_code == 200, resp.get_json()
    return [e["resource"] for e in resp.get_json().get("entry", [])
            if e["search"]["mode"] == "match"]


def test_insurer_pulls_its_eligibility_requests_and_answers(world, fhir, insurer_x):
    cursor = world["agency-a"]["meta"]["lastUpdated"]  # before the requests were made
    pulled = _matches(insurer_x.get(f"/fhir/CoverageEligibilityRequest?insurer={INSURER_X}"
                                    f"&_lastUpdated=gt{cursor}"))
    assert [ref(r) for r in pulled] == [ref(world["cer_x"])]
    request = pulled[0]
    # nothing new after the request: the next poll is empty
    later = request["meta"]["lastUpdated"]
    assert _matches(insurer_x.get(f"/fhir/CoverageEligibilityRequest?insurer={INSURER_X}"
                                  f"&_lastUpdated=gt{later}")) == []
    # the context it references
    for link in (request["patient"], request["insurance"][0]["coverage"],
                 request["provider"]):
        assert insurer_x.get(f"/fhir/{link['reference']}").status_code == 200
    resp = insurer_x.post("/fhir/CoverageEligibilityResponse",
                          eligibility_response(request))
    assert resp.status_code == 201, resp.get_json()
    answer = resp.get_json()
    assert insurer_x.get(f"/fhir/{ref(answer)}").status_code == 200
    found = _matches(fhir.get(f"/fhir/CoverageEligibilityResponse?request={ref(request)}"))
    assert [ref(r) for r in found] == [ref(answer)]
    provs = _matches(fhir.get(f"/fhir/Provenance?target={ref(answer)}"))
    assert [p["agent"][0]["who"]["reference"] for p in provs] == [INSURER_X]
    assert provs[0]["target"][0]["reference"] == f"{ref(answer)}/_history/1"


def test_insurer_pulls_its_prior_authorizations_and_answers(world, fhir, insurer_x):
    claims = _matches(insurer_x.get(f"/fhir/Claim?insurer={INSURER_X}&use=preauthorization"))
    assert [ref(c) for c in claims] == [ref(world["claim_x"])]
    assert _matches(insurer_x.get(f"/fhir/Claim?insurer={INSURER_X}&use=claim")) == []
    claim = claims[0]
    # the referral it authorizes is readable; the agency's CarePlan is not
    assert insurer_x.get(f"/fhir/{claim['referral']['reference']}").status_code == 200
    resp = insurer_x.post("/fhir/ClaimResponse", claim_response(claim))
    assert resp.status_code == 201, resp.get_json()
    answer = resp.get_json()
    mine = _matches(insurer_x.get(f"/fhir/ClaimResponse?insurer={INSURER_X}"))
    assert [ref(r) for r in mine] == [ref(answer)]
    hub_view = _matches(fhir.get(f"/fhir/ClaimResponse?request={ref(claim)}"
                                 "&_include=ClaimResponse:request"))
    assert [ref(r) for r in hub_view] == [ref(answer)]
    (prov,) = _matches(fhir.get(f"/fhir/Provenance?target={ref(answer)}"))
    assert prov["activity"]["coding"][0]["code"] == "CREATE"


def test_insurer_sees_nothing_addressed_to_others(world, insurer_x):
    assert _matches(insurer_x.get("/fhir/CoverageEligibilityRequest")) == [world["cer_x"]]
    assert _matches(insurer_x.get(f"/fhir/CoverageEligibilityRequest?insurer={INSURER_Y}")) \
        == []
    assert insurer_x.get(f"/fhir/{ref(world['cer_y'])}").status_code == 404
    assert insurer_x.get(f"/fhir/{ref(world['patient2'])}").status_code == 404
    assert insurer_x.get(f"/fhir/{ref(world['coverage2'])}").status_code == 404
    assert insurer_x.get(f"/fhir/{ref(world['careplan1'])}").status_code in (403, 404)


def test_responses_must_be_its_own_and_answer_its_requests(world, fhir, insurer_x):
    provenances = fhir.get("/fhir/Provenance").get_json()["total"]  # of the hub's writes
    foreign = eligibility_response(world["cer_y"])
    resp = insurer_x.post("/fhir/CoverageEligibilityResponse", foreign)
    assert resp.status_code == 403
    assert resp.get_json()["issue"][0]["expression"] == ["CoverageEligibilityResponse.insurer"]
    disguised = {**foreign, "insurer": {"reference": INSURER_X}}
    resp = insurer_x.post("/fhir/CoverageEligibilityResponse", disguised)
    assert resp.status_code == 403
    assert resp.get_json()["issue"][0]["expression"] == ["CoverageEligibilityResponse.request"]
    bad_claim = {**claim_response(world["claim_x"]), "insurer": {"reference": HUB}}
    assert insurer_x.post("/fhir/ClaimResponse", bad_claim).status_code == 403
    assert fhir.get("/fhir/CoverageEligibilityResponse").get_json()["total"] == 0
    assert fhir.get("/fhir/Provenance").get_json()["total"] == provenances


def test_insurer_search_params_are_in_the_capability_statement(fhir):
    statement = fhir.get("/fhir/metadata").get_json()
    by_type = {r["type"]: {p["name"] for p in r["searchParam"]}
               for r in statement["rest"][0]["resource"]}
    for rtype in ("CoverageEligibilityRequest", "Claim", "CoverageEligibilityResponse",
                  "ClaimResponse"):
        assert "insurer" in by_type[rtype]
