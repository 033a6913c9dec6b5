"""Partners matched by identifier as well as by reference (issue 11 item 3): a case concerns
a partner when it names the partner's Organization anywhere, by a reference to an
Organization carrying the partner's identifier or by a logical reference."""

from __future__ import annotations

import pytest
from case_data import river
from partners_file import (
    NPI,
    agency,
    create_organization,
    hospital,
    open_case,
    partners_settings,
    queued_for,
)

from hub.sync.partners import PartnerFileError, parse_partners

LAKESIDE_NPI = "1487659211"
AGENCY_NPI = "1932145678"


settings = partners_settings(
    hospital("lakeside", identifier=f"{NPI}|{LAKESIDE_NPI}"),
    agency("sunrise", identifier=f"{NPI}|{AGENCY_NPI}"))


@pytest.fixture
def h(auth_headers):
    return auth_headers("system/*.cruds")


def with_member_org(party: dict) -> dict:
    body = river()
    for member in body["care_team"]:
        if member.get("on_behalf_of"):
            member["on_behalf_of"] = {"name": "Lakeside General Hospital", **party}
    return body


def test_a_logical_reference_by_identifier_names_the_partner(app, client, h):
    case_id = open_case(client, h, with_member_org(
        {"identifier": {"system": NPI, "value": LAKESIDE_NPI}}))
    assert queued_for(app, case_id) == {("lakeside", "CarePlan"), ("lakeside", "CareTeam")}


def test_a_reference_to_an_organization_carrying_the_identifier_names_it(app, client, h):
    ref = create_organization(client, h, "Lakeside General Hospital", LAKESIDE_NPI)
    case_id = open_case(client, h, with_member_org({"reference": ref}))
    assert ("lakeside", "CareTeam") in queued_for(app, case_id)


def test_a_case_naming_other_organizations_concerns_no_partner(app, client, h):
    other = create_organization(client, h, "Elsewhere", "1111111111")
    body = with_member_org({"reference": other,
                            "identifier": {"system": NPI, "value": "1999999999"}})
    assert queued_for(app, open_case(client, h, body)) == set()


def test_payer_and_referral_performer_by_identifier(app, client, h):
    body = river()
    body["program"] = "payer-test"
    body["funding"][0]["payer"] = {"name": "Lakeside Health Plan",
                                   "identifier": {"system": NPI, "value": LAKESIDE_NPI}}
    body["referrals"] = [{
        "id": "pt-home",
        "service": {"system": "http://snomed.info/sct", "code": "91251008",
                    "display": "Physical therapy procedure"},
        "agency": {"name": "Sunrise Home Health",
                   "identifier": {"system": NPI, "value": AGENCY_NPI}},
        "status": "requested", "reason": "physiotherapy at home after discharge"}]
    queued = queued_for(app, open_case(client, h, body))
    assert ("lakeside", "CarePlan") in queued
    assert {("sunrise", "ServiceRequest"), ("sunrise", "Task")} <= queued


def test_partners_file_checks_the_identifier():
    good = parse_partners({"partners": [{
        "id": "p", "kind": "hospital", "base_url": "https://p.example/fhir",
        "organization_identifier": f"{NPI}|{LAKESIDE_NPI}"}]})
    assert good["p"].organization_identifier == f"{NPI}|{LAKESIDE_NPI}"
    assert good["p"].to_dict()["organization_identifier"] == f"{NPI}|{LAKESIDE_NPI}"
    with pytest.raises(PartnerFileError) as caught:
        parse_partners({"partners": [{
            "id": "p", "kind": "hospital", "base_url": "https://p.example/fhir",
            "organization_identifier": "no-bar"}]})
    assert set(caught.value.errors) == {"partners[p].organization_identifier"}
