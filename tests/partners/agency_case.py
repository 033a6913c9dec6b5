"""A case with a home-health referral, for the agency-json tests (fictional data only)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hub import cases as c

UTC = UTC
SERVICE = c.Code("http://snomed.info/sct", "385763009", "Home IV antibiotic therapy")
AGENCY = c.Party("Sunrise Home Health", reference="Organization/sunrise-home-health")
NPI = "http://hl7.org/fhir/sid/us-npi"


def referral_case(referral_id: str = "5d2c7a4e-8f0b-4b1e-9a6c-2f1e0d9c8b7a",
                  case_id: str = "case-agency-1") -> c.Case:
    """An active case with one requested referral to Sunrise, funded by Acme (authorized)."""
    manager = c.Party("Dana Casemanager", identifier=c.Identifier(NPI, "1234567893"))
    patient = c.Patient(
        name=c.HumanName("Example", ["Rowan", "Q"]), birth_date=date(1948, 7, 19),
        gender=c.Gender.FEMALE,
        identifiers=[c.Identifier("urn:oid:2.16.840.1.113883.3.9999.1", "MRN-000123",
                                  c.IdentifierKind.MRN),
                     c.Identifier("https://payer.example/member", "ZX-99001",
                                  c.IdentifierKind.MEMBER_ID)],
        contact=c.Contact(phone="+1-555-0100", email="rowan@example.org",
                          address=c.Address(["12 Example Lane", "Apt 3"], "Springfield", "IL",
                                            "62701", "US")))
    activity = c.Activity("Home IV antibiotics", id="act-iv", code=SERVICE,
                          frequency=c.Frequency(3, 1, c.PeriodUnit.WEEK),
                          period=c.Period(date(2026, 3, 3), date(2026, 4, 14)))
    referral = c.Referral(
        service=SERVICE, agency=AGENCY, id=referral_id,
        description="PICC line placed 2026-03-01. Weekly CBC and CRP draws.",
        reason="Osteomyelitis of the left foot; six weeks of IV antibiotics after discharge",
        activity="act-iv", period=c.Period(date(2026, 3, 3), date(2026, 4, 14)))
    referral.move(c.ReferralStatus.REQUESTED, c.Actor.REQUESTER,
                  at=datetime(2026, 3, 2, 14, 30, tzinfo=UTC))
    funding = [
        c.FundingSource(
            kind=c.FundingKind.INSURANCE, payer=c.Party("Acme Health",
                                                        identifier=c.Identifier(NPI, "1999999984")),
            plan="Acme Gold PPO", member_id="ZX-99001", group="G-100",
            decisions=[
                c.CoverageDecision(SERVICE, c.DecisionStatus.AUTH_APPROVED,
                                   authorization_number="PA-2026-000042", quantity=18,
                                   period=c.Period(date(2026, 3, 3), date(2026, 4, 14))),
                c.CoverageDecision(c.Code("http://snomed.info/sct", "1"),
                                   c.DecisionStatus.AUTH_APPROVED,
                                   authorization_number="OTHER-SERVICE")]),
        c.FundingSource(kind=c.FundingKind.PUBLIC, payer=c.Party("State Medicaid"),
                        member_id="MCD-555"),
        c.FundingSource(kind=c.FundingKind.CHARITY, payer=c.Party("Old fund"),
                        status=c.FundingStatus.CANCELLED),
    ]
    team = [c.CareTeamMember("Dana Casemanager", c.Code("http://snomed.info/sct", "768820003"),
                             identifier=c.Identifier(NPI, "1234567893"),
                             contact=c.Contact(phone="+1-555-0199",
                                               email="dana.cm@hub.example"))]
    return c.Case(id=case_id, patient=patient, model=c.CaseModel.CLINICAL,
                  setting=c.Setting.HOSPITAL, status=c.CaseStatus.ACTIVE, case_manager=manager,
                  care_team=team, funding=funding,
                  plan=c.Plan(status=c.PlanStatus.ACTIVE, activities=[activity]),
                  referrals=[referral])
