"""The insurer and hospital flows match partners by organization identifier as well as by
reference (issue 11 item 3): the payer, or the care team's agency, is an Organization a FHIR
client created (a server id) carrying the partner's NPI, and the partner is configured by
that NPI alone."""

from __future__ import annotations

import pytest
from case_data import river
from partners_file import (
    NPI,
    agency,
    create_organization,
    hospital,
    insurer,
    open_case,
    partners_settings,
    queued_for,
)
from sqlalchemy import select

from hub import cases as c
from hub.errors import BusinessRuleFailed
from hub.flows.hospital import apply_pulled_encounter
from hub.flows.insurer import insurer_partner
from hub.flows.pulled import PullContext
from hub.mappings.errors import Report
from hub.partner_match import partner_party, party_names_partner
from hub.store.sync_tables import outbox
from hub.store.uow import UnitOfWork
from hub.sync.partners import Partner

PAYER_NPI = "1720034511"
HOSPITAL_NPI = "1487659211"
AGENCY_NPI = "1932145678"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
NUBC = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

settings = partners_settings(
    insurer("plan-by-npi", identifier=f"{NPI}|{PAYER_NPI}"),
    # an insurer configured by reference only: never the one a payer by NPI reaches
    insurer("plan-by-ref", organization="Organization/example-health"),
    hospital("lakeside", identifier=f"{NPI}|{HOSPITAL_NPI}"),
    agency("sunrise", identifier=f"{NPI}|{AGENCY_NPI}"))


@pytest.fixture
def h(auth_headers):
    return auth_headers("system/*.cruds")


@pytest.fixture
def db(app):
    return app.extensions["hub.db"]


def _with_payer(payer: dict, program: str) -> dict:
    body = river()
    body["program"] = program
    body["funding"][0]["payer"] = {"name": "Example Health Plan", **payer}
    return body


def _submit(client, h, case_id: str, path: str, body: dict):
    version = client.get(f"/api/cases/{case_id}", headers=h).get_json()["version"]
    return client.post(f"/api/cases/{case_id}/{path}", json=body,
                       headers={**h, "If-Match": f'W/"{version}"'})


def _submits(db, case_id: str) -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        return [(r.partner_id, r.resource_type) for r in conn.execute(
            select(outbox).where(outbox.c.case_id == case_id, outbox.c.operation == "submit")
            .order_by(outbox.c.id))]


# --- insurer ---------------------------------------------------------------------------------


def test_a_payer_created_through_fhir_reaches_the_insurer_by_its_npi(app, client, h, db):
    payer = create_organization(client, h, "Example Health Plan", PAYER_NPI)
    case_id = open_case(client, h, _with_payer({"reference": payer}, "payer-by-id"))
    pa = _submit(client, h, case_id, "prior-authorizations", {
        "funding_id": "health-insurance",
        "items": [{"service": {"system": HCPCS, "code": "S9500"}}]})
    assert pa.status_code == 202, pa.get_json()
    elig = _submit(client, h, case_id, "eligibility-requests", {
        "funding_id": "health-insurance", "purposes": ["benefits"]})
    assert elig.status_code == 202, elig.get_json()
    assert _submits(db, case_id) == [("plan-by-npi", "Claim"),
                                     ("plan-by-npi", "CoverageEligibilityRequest")]
    # the Claim names the payer by its server id; the partner the hub polls is found from it
    claim_id = pa.get_json()["resource"].split("/")[1]
    with UnitOfWork(db) as uow:
        claim = uow.resources.read("Claim", claim_id).content
        assert claim["insurer"]["reference"] == payer
        partners = app.extensions["hub.runtime"].partners
        assert insurer_partner(partners, claim["insurer"], uow.resources).id == "plan-by-npi"


def test_a_payer_named_by_its_npi_alone_reaches_the_insurer(client, h, db):
    case_id = open_case(client, h, _with_payer(
        {"identifier": {"system": NPI, "value": PAYER_NPI}}, "payer-by-npi"))
    resp = _submit(client, h, case_id, "eligibility-requests", {
        "funding_id": "health-insurance", "purposes": ["benefits"]})
    assert resp.status_code == 202, resp.get_json()
    assert _submits(db, case_id) == [("plan-by-npi", "CoverageEligibilityRequest")]


def test_a_payer_with_another_npi_reaches_no_insurer(app, client, h, db):
    other = create_organization(client, h, "Another Plan", "1999999999")
    case_id = open_case(client, h, _with_payer({"reference": other}, "payer-other"))
    resp = _submit(client, h, case_id, "eligibility-requests", {
        "funding_id": "health-insurance", "purposes": ["benefits"]})
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {
        "funding_id": [f"no insurer partner is configured for {other}"]}
    assert _submits(db, case_id) == []
    partners = app.extensions["hub.runtime"].partners
    with UnitOfWork(db) as uow, pytest.raises(BusinessRuleFailed):
        insurer_partner(partners, {"display": "no reference, no identifier"}, uow.resources)


# --- hospital: the discharge's home-health agency --------------------------------------------


def _discharge(patient_ref: str, hospital_ref: str) -> dict:
    return {"resourceType": "Encounter", "status": "finished",
            "identifier": [{"system": "urn:lakeside:visit", "value": "V-77"}],
            "class": {"system": V3, "code": "IMP", "display": "inpatient encounter"},
            "subject": {"reference": patient_ref},
            "serviceProvider": {"reference": hospital_ref},
            "period": {"start": "2026-11-20T08:00:00Z", "end": "2026-11-28T10:00:00Z"},
            "hospitalization": {"dischargeDisposition": {"coding": [
                {"system": NUBC, "code": "06", "display": "Home under care of home health"}]}}}


def _nurse_of(org_name: str, org_ref: str) -> dict:
    """A care-team nurse working for an organization (a home-health agency)."""
    return {"id": "hh", "name": f"{org_name} nurse",
            "role": {"system": "http://snomed.info/sct", "code": "224535009",
                     "display": "Registered nurse"},
            "on_behalf_of": {"name": org_name, "reference": org_ref}}


def test_a_discharge_proposes_the_care_teams_agency_named_through_a_server_id(
        app, client, h, db):
    hospital_org = create_organization(client, h, "Lakeside General Hospital", HOSPITAL_NPI)
    agency_org = create_organization(client, h, "Sunrise Home Health", AGENCY_NPI)
    body = river()
    body["program"] = "discharge-by-npi"
    for member in body["care_team"]:
        if member.get("on_behalf_of"):
            member["on_behalf_of"] = {"name": "Lakeside General Hospital",
                                      "reference": hospital_org}
    body["care_team"].append(_nurse_of("Sunrise Home Health", agency_org))
    case_id = open_case(client, h, body)
    # the hospital (by NPI, through the member's employer) receives the plan
    assert ("lakeside", "CarePlan") in queued_for(app, case_id)

    partners = app.extensions["hub.runtime"].partners
    with UnitOfWork(db, partners) as uow:
        case = uow.cases.get(case_id)
        data = _discharge(f"Patient/{case.patient_id}", hospital_org)
        apply_pulled_encounter(uow, case, data, Report(),
                               PullContext("lakeside", partners, "enc-77", {}, {}))
        [referral] = case.referrals
        assert referral.status == c.ReferralStatus.DRAFT
        assert referral.agency == c.Party("Sunrise Home Health", None, agency_org)
        # requested, it reaches the agency partner configured by NPI alone
        referral.move(c.ReferralStatus.REQUESTED, c.Actor.REQUESTER)
        uow.save_case(case)
        uow.commit()
    assert {("sunrise", "ServiceRequest"), ("sunrise", "Task")} <= queued_for(app, case_id)


def test_no_agency_is_proposed_when_the_care_team_names_none_by_npi(app, client, h, db):
    elsewhere = create_organization(client, h, "Elsewhere Home Care", "1888888888")
    body = river()
    body["program"] = "discharge-other"
    body["care_team"].append(_nurse_of("Elsewhere Home Care", elsewhere))
    case_id = open_case(client, h, body)
    partners = app.extensions["hub.runtime"].partners
    with UnitOfWork(db, partners) as uow:
        case = uow.cases.get(case_id)
        apply_pulled_encounter(uow, case, _discharge(f"Patient/{case.patient_id}",
                                                     "Organization/lakeside"),
                               Report(), PullContext("lakeside", partners, "enc-1", {}, {}))
        [referral] = case.referrals
        assert referral.agency is None


def test_a_referral_addressed_to_a_partner_names_it_as_the_partners_file_does():
    """The console's "send referral to agency": the agency party of a partner configured by
    NPI carries the NPI (and a reference only where the file has one)."""
    by_npi = Partner(id="sunrise", kind="agency", base_url="http://127.0.0.1:9/fhir",
                     organization_identifier=f"{NPI}|{AGENCY_NPI}")
    party = partner_party(by_npi)
    assert party == c.Party("sunrise", c.Identifier(NPI, AGENCY_NPI), None)
    assert party_names_partner(by_npi, party, None)
    by_ref = Partner(id="dawn", kind="agency", base_url="http://127.0.0.1:9/fhir",
                     organization="Organization/dawn")
    assert partner_party(by_ref, "Dawn") == c.Party("Dawn", None, "Organization/dawn")
