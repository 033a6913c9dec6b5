"""Coverage <-> funding sources: round trips, the official examples, validity."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fhircheck import EXAMPLES, assert_valid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import cases as c
from hub.fhir import parse_resource
from hub.mappings.codes import FUNDING_TYPE
from hub.mappings.coverage import (
    coverage_from_fhir,
    coverage_to_fhir,
    payer_organization_to_fhir,
    upsert_decision,
)
from hub.mappings.errors import MappingError, Report

# --- shared strategies (imported by the other B test modules) -----------------------------

text = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122,
                                      categories=("L", "N")), min_size=1, max_size=12)
words = st.lists(text, min_size=1, max_size=3).map(" ".join)
uri = text.map(lambda s: f"http://example.org/{s}")
dates = st.dates(min_value=datetime(1990, 1, 1).date(), max_value=datetime(2040, 1, 1).date())
aware = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 1, 1),
                     timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))
codes = st.builds(c.Code, system=uri, code=text, display=st.none() | words)
periods = st.builds(c.Period, start=st.none() | dates, end=st.none() | dates).filter(
    lambda p: p.start is not None or p.end is not None)
identifiers = st.builds(c.Identifier, system=uri, value=text,
                        kind=st.sampled_from([c.IdentifierKind.OTHER]))
parties = st.builds(c.Party, name=words, identifier=st.none() | identifiers,
                    reference=st.none() | text.map(lambda s: f"Organization/{s}"))
decisions = st.builds(c.CoverageDecision, service=codes, status=st.sampled_from(c.DecisionStatus),
                      authorization_number=st.none() | text, period=st.none() | periods,
                      decided_at=st.none() | aware, quantity=st.none() | st.integers(0, 10_000),
                      note=st.none() | words)
fundings = st.builds(c.FundingSource, kind=st.sampled_from(c.FundingKind), payer=parties,
                     status=st.sampled_from(c.FundingStatus), plan=st.none() | text,
                     member_id=st.none() | text, group=st.none() | text,
                     relationship=st.sampled_from(c.SubscriberRelationship),
                     period=st.none() | periods, decisions=st.lists(decisions, max_size=3))


def new_case(**kw) -> c.Case:
    return c.Case(id=kw.pop("id", "case-1"),
                  patient=c.Patient(name=c.HumanName("Doe", ["Jo"])), model=c.CaseModel.CLINICAL,
                  setting=c.Setting.HOSPITAL, **kw)


def load(folder: str) -> list[tuple[str, dict]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted((EXAMPLES / folder).glob("*.json"))]


# --- round trip ---------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fundings, min_size=1, max_size=3, unique_by=lambda f: f.id))
def test_funding_round_trips_exactly(funding):
    case = new_case(funding=funding)
    for i, f in enumerate(case.funding, start=1):
        out = coverage_to_fhir(case, f)
        parse_resource(out)
        assert out["order"] == i
        assert coverage_from_fhir(out, case.id) == f
        assert coverage_from_fhir(json.loads(json.dumps(out))) == f  # without the case id
        assert coverage_to_fhir(case, f) == out  # deterministic


def test_types_per_funding_kind_and_self_pay_payor_is_the_patient():
    case = new_case()
    case.funding = [c.FundingSource(kind=k, payer=c.Party("P")) for k in c.FundingKind]
    out = {f.kind: coverage_to_fhir(case, f) for f in case.funding}
    assert out[c.FundingKind.CHARITY]["type"]["coding"][0]["code"] == "CHAR"
    assert out[c.FundingKind.PUBLIC]["type"]["coding"][0]["code"] == "PUBLICPOL"
    assert out[c.FundingKind.WORKERS_COMPENSATION]["type"]["coding"][0]["code"] == "WCBPOL"
    assert out[c.FundingKind.INSURANCE]["type"]["coding"][0]["code"] == "HIP"
    selfpay = out[c.FundingKind.SELF_PAY]
    assert selfpay["type"]["coding"][0]["system"] == \
        "http://terminology.hl7.org/CodeSystem/coverage-selfpay"
    assert selfpay["payor"][0]["reference"] == selfpay["beneficiary"]["reference"]
    assert out[c.FundingKind.INSURANCE]["payor"][0]["reference"].startswith("Organization/")
    org = payer_organization_to_fhir(case, case.funding[0])
    assert out[case.funding[0].kind]["payor"][0]["reference"] == f"Organization/{org['id']}"
    assert payer_organization_to_fhir(case, case.funding[3]) is None  # self-pay
    assert [o["order"] for o in out.values()] == [1, 2, 3, 4, 5]
    assert set(FUNDING_TYPE) == {k.value for k in c.FundingKind}


def test_class_plan_and_group_are_strings_r4():
    case = new_case()
    f = c.FundingSource(kind=c.FundingKind.INSURANCE, payer=c.Party("Acme"), plan="GOLD",
                        group="G-1", member_id="M-9")
    case.funding.append(f)
    out = coverage_to_fhir(case, f)
    assert {(k["type"]["coding"][0]["code"], k["value"]) for k in out["class"]} == {
        ("plan", "GOLD"), ("group", "G-1")}
    assert out["subscriberId"] == "M-9"
    assert "kind" not in out and "insurer" not in out and "paymentBy" not in out  # R5 only


def test_unknown_codes_are_kept_and_reported_not_crashing():
    data = {"resourceType": "Coverage", "status": "active", "id": "x",
            "type": {"coding": [{"system": "http://example.org/t", "code": "ZZ"}]},
            "relationship": {"coding": [{"system": "http://example.org/r", "code": "cousin"}]},
            "beneficiary": {"reference": "Patient/1"}, "payor": [{"reference": "Organization/1"}]}
    report = Report()
    f = coverage_from_fhir(data, report=report)
    assert f.kind == c.FundingKind.INSURANCE and f.relationship == c.SubscriberRelationship.SELF
    assert {(i.system, i.code) for i in report.unknown_codes} == {
        ("http://example.org/t", "ZZ"), ("http://example.org/r", "cousin")}


def test_sop_codes_are_understood():
    data = {"resourceType": "Coverage", "status": "active",
            "type": {"coding": [{"system": "https://nahdo.org/sopt", "code": "821"}]},
            "beneficiary": {"reference": "Patient/1"}, "payor": [{"reference": "Organization/1"}]}
    assert coverage_from_fhir(data).kind == c.FundingKind.CHARITY


def test_refusals_name_the_path():
    with pytest.raises(MappingError) as err:
        coverage_from_fhir({"resourceType": "Coverage", "status": "inactive", "payor": [{}]})
    assert err.value.path == "Coverage.status"
    with pytest.raises(MappingError) as err:
        coverage_from_fhir({"resourceType": "Coverage", "status": "active"})
    assert err.value.path == "Coverage.payor"


def test_upsert_decision_replaces_by_service_and_respects_keep():
    f = c.FundingSource(kind=c.FundingKind.INSURANCE, payer=c.Party("A"))
    d1 = upsert_decision(f, c.CoverageDecision(service=c.Code("s", "1"),
                                               status=c.DecisionStatus.AUTH_APPROVED))
    kept = upsert_decision(f, c.CoverageDecision(service=c.Code("s", "1"),
                                                 status=c.DecisionStatus.COVERED),
                           keep=frozenset({c.DecisionStatus.AUTH_APPROVED}))
    assert kept is d1 and len(f.decisions) == 1
    new = upsert_decision(f, c.CoverageDecision(service=c.Code("s", "1"),
                                                status=c.DecisionStatus.NOT_COVERED))
    assert new.id == d1.id and f.decisions == [new]


# --- the official / IG examples -----------------------------------------------------------

def _covered(data: dict) -> dict:
    """The elements the mapping covers, normalised (codes without system read as R4 ones)."""
    rel = [cd.get("code") for cd in (data.get("relationship") or {}).get("coding") or []
           if cd.get("system") in (None, "http://terminology.hl7.org/CodeSystem/subscriber-relationship")]
    classes = {}
    for k in data.get("class") or []:
        code = k["type"]["coding"][0].get("code")
        if code in ("plan", "group"):
            classes.setdefault(code, k["value"])
    payor = data["payor"][0]
    return {"status": data["status"], "subscriberId": data.get("subscriberId"),
            "period": data.get("period"), "relationship": rel[:1] or ["self"],
            "class": classes, "payor": (payor.get("reference"), payor.get("identifier", {}).get("value"))}


EXAMPLE_FILES = load("Coverage")


@pytest.mark.parametrize("name,data", EXAMPLE_FILES, ids=[n for n, _ in EXAMPLE_FILES])
def test_examples_read_and_write_back(name, data):
    report = Report()
    f = coverage_from_fhir(data, report=report)
    case = new_case(funding=[f])
    out = coverage_to_fhir(case, f)
    parse_resource(out)
    expected, got = _covered(data), _covered(out)
    if expected["payor"][0] is None:  # identifier-only payor: the hub serves an Organization
        got["payor"] = (None, got["payor"][1])
    if report.unknown_codes:  # e.g. data-absent-reason relationship: reported, taken as self
        assert [i.path for i in report.unknown_codes] == ["Coverage.relationship"]
        expected["relationship"] = ["self"]
    assert got == expected
    if data.get("type"):
        kind_again = coverage_from_fhir(out).kind
        assert kind_again == f.kind


def test_emitted_coverages_validate(tmp_path):
    resources = []
    for _, data in EXAMPLE_FILES:
        f = coverage_from_fhir(data)
        case = new_case(funding=[f])
        resources.append(coverage_to_fhir(case, f))
    case = new_case()
    case.funding = [c.FundingSource(kind=k, payer=c.Party("Payer", identifier=c.Identifier(
        "http://example.org/payers", "P1")), plan="P", group="G", member_id="M",
        period=c.Period(datetime(2024, 1, 1).date()),
        decisions=[c.CoverageDecision(service=c.Code(
            "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "S9500"),
                                      status=c.DecisionStatus.NOT_COVERED, quantity=3,
                                      decided_at=datetime(2024, 1, 2, tzinfo=UTC),
                                      period=c.Period(end=datetime(2024, 3, 1).date()))])
        for k in c.FundingKind]
    for f in case.funding:
        resources.append(coverage_to_fhir(case, f))
        org = payer_organization_to_fhir(case, f)
        if org:
            resources.append(org)
    for r in resources:
        parse_resource(r)
    assert_valid(resources, tmp_path)
