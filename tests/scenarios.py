"""The four reference cases, as Python builders, and their golden FHIR fixtures.

Scenario builders are deterministic (fixed ids and times) so their FHIR form can be committed
under ``fixtures/fhir/<scenario>/`` and compared in tests. The parts marked
``FUNDING / ENCOUNTERS / REFERRALS`` are filled by the funding/encounter/referral mappings'
owner; the rest (patient, case, assessment, plan, team, reviews, notes) by the case mappings'.

Each scenario also exists as a case record in the ``/api/cases`` input format, under
``fixtures/cases/<scenario>.json`` (``case_input``: the record without its server-owned
parts). ``fixtures/cases/river.json`` predates the scenarios and is kept as it is: the case
API tests rely on it.

Regenerate the golden files after an intended mapping change, from the repository root with
the project's virtualenv active (``/work/venv/bin/python`` here)::

    python -c "from tests.scenarios import write_fixtures; write_fixtures()"
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from hub import cases as c
from hub.mappings.codes import CARE_TEAM_ROLES, SNOMED

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
CASE_INPUTS = Path(__file__).resolve().parents[1] / "fixtures" / "cases"
#: Scenarios whose case-input file is written by ``write_fixtures`` (river.json is hand-made).
GENERATED_CASE_INPUTS = ("osteomyelitis", "hiv", "stroke")
UTC = UTC


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def role(name: str) -> c.Code:
    return c.Code(*CARE_TEAM_ROLES[name])


def sct(code: str, display: str) -> c.Code:
    return c.Code(SNOMED, code, display)


def member(mid: str, name: str, role_name: str, kind=c.MemberKind.PRACTITIONER, **kw):
    return c.CareTeamMember(id=mid, name=name, role=role(role_name), kind=kind, **kw)


def history(*moves: tuple[str, datetime]) -> list[c.StatusChange]:
    return [c.StatusChange(status=s, at=t, by="case-manager") for s, t in moves]


# --- River: TBI after a bicycle accident -------------------------------------------------

def river() -> c.Case:
    """Sam River, 34: traumatic brain injury, broken arm and femur after a bicycle accident;
    clinical case management with physio, neuropsychology and OT, phone contact, and help
    with financial planning."""
    case = c.Case(
        id="case-river",
        patient=c.Patient(
            name=c.HumanName("River", ["Sam"]), birth_date=date(1990, 5, 14),
            gender=c.Gender.MALE,
            identifiers=[c.Identifier("urn:oid:2.16.840.1.113883.19.5", "MRN-448812",
                                      c.IdentifierKind.MRN)],
            contact=c.Contact(phone="+1-555-0101", email="sam.river@example.org",
                              address=c.Address(["12 Alder Lane"], "Springfield", "IL",
                                                "62704", "US"))),
        model=c.CaseModel.CLINICAL, setting=c.Setting.HOSPITAL, program="brain-injury",
        case_manager=c.Party("Cara Lind, RN CCM", reference="Practitioner/cara-lind"),
        opened_at=at(2024, 3, 4), status=c.CaseStatus.ACTIVE, version=6,
    )
    tbi = c.Condition(id="cond-tbi", code=sct("127295002", "Traumatic brain injury"),
                      onset=date(2024, 3, 1))
    arm = c.Condition(id="cond-arm", code=sct("65966004", "Fracture of forearm"),
                      onset=date(2024, 3, 1))
    femur = c.Condition(id="cond-femur", code=sct("71620000", "Fracture of femur"),
                        onset=date(2024, 3, 1))
    money = c.Condition(id="cond-finance", code=c.Code(SNOMED, "160932005",
                                                       "Financial problem"),
                        category=c.ConditionCategory.HEALTH_CONCERN,
                        note="Off work for months; mortgage payments at risk.")
    case.assessment = c.Assessment(
        assessed_on=date(2024, 3, 6), assessor=c.Party("Cara Lind, RN CCM",
                                                       reference="Practitioner/cara-lind"),
        conditions=[tbi, arm, femur, money],
        needs=["mobility and weight-bearing rehabilitation", "memory and attention training",
               "return to daily activities", "financial planning"],
        strengths=["motivated to return to cycling", "supportive partner at home"],
        summary="Moderate TBI with orthopaedic injuries; discharged home with outpatient rehab.")
    team = [
        member("m-cm", "Cara Lind, RN CCM", "case-manager",
               contact=c.Contact(phone="+1-555-0199")),
        member("m-neuro", "Dr. Ana Ortiz", "neurologist",
               on_behalf_of=c.Party("Springfield General Hospital")),
        member("m-pt", "Lee Park, PT", "physiotherapist",
               on_behalf_of=c.Party("Springfield Rehab Clinic")),
        member("m-np", "Dr. Mira Hale", "psychologist"),
        member("m-ot", "Jo Banks, OT", "occupational-therapist"),
        member("m-sw", "Tom Reyes, MSW", "social-worker", kind=c.MemberKind.PRACTITIONER_ROLE,
               on_behalf_of=c.Party("Springfield General Hospital")),
        member("m-partner", "Alex River", "caregiver", kind=c.MemberKind.RELATED_PERSON,
               contact=c.Contact(phone="+1-555-0102")),
        member("m-patient", "Sam River", "patient", kind=c.MemberKind.PATIENT),
    ]
    case.care_team = team
    g_walk = c.Goal(id="goal-walk", description="Walk 500 m without aids",
                    lifecycle_status=c.GoalLifecycle.ACTIVE,
                    achievement_status=c.GoalAchievement.IMPROVING,
                    target_date=date(2024, 6, 30), addresses=["cond-femur"])
    g_memory = c.Goal(id="goal-memory", description="Manage daily schedule independently",
                      lifecycle_status=c.GoalLifecycle.ACTIVE,
                      achievement_status=c.GoalAchievement.IN_PROGRESS,
                      target_date=date(2024, 8, 31), addresses=["cond-tbi"])
    g_money = c.Goal(id="goal-budget", description="A budget covering the months off work",
                     lifecycle_status=c.GoalLifecycle.ACCEPTED, addresses=["cond-finance"])
    rehab = c.Period(date(2024, 3, 11), date(2024, 6, 28))
    case.plan = c.Plan(
        status=c.PlanStatus.ACTIVE, period=c.Period(date(2024, 3, 8), date(2024, 9, 30)),
        approved_by=c.Party("Dr. Ana Ortiz", reference="Practitioner/ana-ortiz"),
        approved_at=at(2024, 3, 8, 14),
        goals=[g_walk, g_memory, g_money],
        activities=[
            c.Activity(id="act-pt", description="Physiotherapy 3x/week",
                       code=sct("91251008", "Physical therapy procedure"),
                       status=c.ActivityStatus.IN_PROGRESS, performer="m-pt",
                       frequency=c.Frequency(3, 1, c.PeriodUnit.WEEK), period=rehab,
                       goals=["goal-walk"], progress=["Week 2: partial weight bearing."]),
            c.Activity(id="act-np", description="Neuropsychology sessions weekly",
                       code=sct("386053000", "Evaluation procedure"),
                       status=c.ActivityStatus.SCHEDULED, performer="m-np",
                       frequency=c.Frequency(1, 1, c.PeriodUnit.WEEK), period=rehab,
                       goals=["goal-memory"]),
            c.Activity(id="act-ot", description="Occupational therapy 2x/week",
                       code=sct("84478008", "Occupational therapy"),
                       status=c.ActivityStatus.IN_PROGRESS, performer="m-ot",
                       frequency=c.Frequency(2, 1, c.PeriodUnit.WEEK), period=rehab,
                       goals=["goal-memory"]),
            c.Activity(id="act-phone", description="Case manager phone check-in every 2 weeks",
                       kind=c.ActivityKind.COMMUNICATION_REQUEST,
                       status=c.ActivityStatus.IN_PROGRESS, performer="m-cm",
                       frequency=c.Frequency(1, 2, c.PeriodUnit.WEEK)),
            c.Activity(id="act-finance", description="Financial planning with social worker",
                       kind=c.ActivityKind.APPOINTMENT,
                       status=c.ActivityStatus.NOT_STARTED, performer="m-sw",
                       period=c.Period(date(2024, 3, 20), date(2024, 4, 30)),
                       goals=["goal-budget"]),
        ],
    )
    case.status_history = history(("assessment", at(2024, 3, 5)), ("planning", at(2024, 3, 7)),
                                  ("active", at(2024, 3, 8, 15)))
    case.reviews = [
        c.Review(id="rev-1", due=date(2024, 3, 22), done_at=at(2024, 3, 21, 10),
                 mode=c.ReviewMode.PHONE, outcome=c.ReviewOutcome.PROGRESSING,
                 reviewer="m-cm", notes="Pain controlled; attends all PT sessions.",
                 goal_updates={"goal-walk": c.GoalAchievement.IMPROVING}),
        c.Review(id="rev-2", due=date(2024, 4, 4)),
    ]
    case.notes = [c.Note(id="note-1", text="Partner asks about disability benefits.",
                         at=at(2024, 3, 12, 16), author="Cara Lind")]
    add_river_funding(case)
    add_river_encounters(case)
    add_river_referrals(case)
    return case


# --- osteomyelitis: home IV antibiotics not covered at home -------------------------------

def osteomyelitis() -> c.Case:
    """Chronic osteomyelitis, discharged home on three weeks of IV antibiotics that the
    insurer does not cover for home use; charity funding is the second source."""
    case = c.Case(
        id="case-osteo",
        patient=c.Patient(name=c.HumanName("Okafor", ["Grace"]), birth_date=date(1961, 11, 2),
                          gender=c.Gender.FEMALE,
                          identifiers=[c.Identifier("urn:oid:2.16.840.1.113883.19.5",
                                                    "MRN-771203", c.IdentifierKind.MRN)],
                          contact=c.Contact(phone="+1-555-0303",
                                            address=c.Address(["4 Mill Road"], "Riverton",
                                                              "IL", "62561", "US"))),
        model=c.CaseModel.CLINICAL, setting=c.Setting.HOSPITAL, program="discharge-planning",
        case_manager=c.Party("Dana Fox, RN", reference="Practitioner/dana-fox"),
        opened_at=at(2024, 5, 2), status=c.CaseStatus.TRANSITION, version=4,
    )
    osteo = c.Condition(id="cond-osteo", code=sct("12901004", "Chronic osteomyelitis"),
                        onset=date(2023, 12, 1))
    case.assessment = c.Assessment(assessed_on=date(2024, 5, 3), conditions=[osteo],
                                   needs=["home IV antibiotic infusion", "PICC line care",
                                          "funding for home infusion"],
                                   strengths=["lives with daughter who can help"])
    case.care_team = [
        member("m-cm", "Dana Fox, RN", "case-manager"),
        member("m-id", "Dr. Raj Patel", "infectious-disease-physician",
               on_behalf_of=c.Party("Riverton Hospital")),
        member("m-nurse", "Home infusion nurse", "registered-nurse"),
        member("m-agency", "CarePlus Home Health", "healthcare-professional",
               kind=c.MemberKind.ORGANIZATION,
               contact=c.Contact(phone="+1-555-0400",
                                 address=c.Address(["200 Main St"], "Riverton", "IL"))),
        member("m-daughter", "Ada Okafor", "caregiver", kind=c.MemberKind.RELATED_PERSON),
    ]
    g_cure = c.Goal(id="goal-cure", description="Complete 21 days of IV antibiotics at home",
                    lifecycle_status=c.GoalLifecycle.ACTIVE,
                    achievement_status=c.GoalAchievement.IN_PROGRESS,
                    target_date=date(2024, 5, 27), addresses=["cond-osteo"])
    case.plan = c.Plan(
        status=c.PlanStatus.ACTIVE, period=c.Period(date(2024, 5, 6), date(2024, 6, 30)),
        approved_by=c.Party("Dr. Raj Patel"), approved_at=at(2024, 5, 5, 11),
        goals=[g_cure],
        activities=[
            c.Activity(id="act-iv", description="Home IV antibiotic infusion daily for 3 weeks",
                       code=sct("281790008", "Intravenous antibiotic therapy"),
                       status=c.ActivityStatus.SCHEDULED, performer="m-nurse",
                       frequency=c.Frequency(1, 1, c.PeriodUnit.DAY),
                       period=c.Period(date(2024, 5, 6), date(2024, 5, 27)),
                       goals=["goal-cure"]),
            c.Activity(id="act-labs", description="Weekly CBC and CRP",
                       status=c.ActivityStatus.SCHEDULED,
                       frequency=c.Frequency(1, 1, c.PeriodUnit.WEEK)),
        ])
    case.status_history = history(("assessment", at(2024, 5, 2, 10)),
                                  ("planning", at(2024, 5, 3, 12)),
                                  ("active", at(2024, 5, 5, 12)),
                                  ("transition", at(2024, 5, 6, 8)))
    case.notes = [c.Note(id="note-1", at=at(2024, 5, 4, 15), author="Dana Fox",
                         text="Insurer covers IV antibiotics inpatient only; charity fund "
                              "application sent.")]
    add_osteomyelitis_funding(case)
    add_osteomyelitis_encounters(case)
    add_osteomyelitis_referrals(case)
    return case


# --- HIV: insurer's case ---------------------------------------------------------------

def hiv() -> c.Case:
    """An insurer's HIV case: monthly medication, adherence checks, scheduled bloodwork,
    side effects noted."""
    case = c.Case(
        id="case-hiv",
        patient=c.Patient(name=c.HumanName("Mendes", ["Luis"]), birth_date=date(1985, 8, 20),
                          gender=c.Gender.MALE,
                          identifiers=[c.Identifier("https://acme-health.example/member",
                                                    "ACM-55521", c.IdentifierKind.MEMBER_ID)]),
        model=c.CaseModel.INTENSIVE, setting=c.Setting.INSURER, program="hiv",
        case_manager=c.Party("Priya Shah, LCSW"), opened_at=at(2024, 1, 15),
        status=c.CaseStatus.ACTIVE, review_interval_days=30, version=9,
    )
    hiv_dx = c.Condition(id="cond-hiv", code=sct("86406008", "Human immunodeficiency virus "
                                                             "infection"),
                         onset=date(2019, 6, 1))
    nausea = c.Condition(id="cond-nausea", code=sct("422587007", "Nausea"),
                         category=c.ConditionCategory.HEALTH_CONCERN,
                         note="Side effect since regimen change.")
    case.assessment = c.Assessment(assessed_on=date(2024, 1, 20), conditions=[hiv_dx, nausea],
                                   needs=["medication adherence support"],
                                   strengths=["stable housing", "employed"])
    case.care_team = [
        member("m-cm", "Priya Shah, LCSW", "case-manager"),
        member("m-pcp", "Dr. Kim Lee", "primary-care-physician"),
        member("m-pharm", "Acme Specialty Pharmacy", "pharmacist",
               kind=c.MemberKind.ORGANIZATION),
    ]
    g_vl = c.Goal(id="goal-vl", description="Viral load undetectable",
                  lifecycle_status=c.GoalLifecycle.ACTIVE,
                  achievement_status=c.GoalAchievement.SUSTAINING)
    g_adh = c.Goal(id="goal-adherence", description="Take 95% of doses",
                   lifecycle_status=c.GoalLifecycle.ACTIVE,
                   achievement_status=c.GoalAchievement.WORSENING)
    case.plan = c.Plan(
        status=c.PlanStatus.ACTIVE, approved_by=c.Party("Dr. Kim Lee"),
        approved_at=at(2024, 1, 22), goals=[g_vl, g_adh],
        activities=[
            c.Activity(id="act-meds", description="Monthly antiretroviral refill",
                       kind=c.ActivityKind.MEDICATION_REQUEST,
                       status=c.ActivityStatus.IN_PROGRESS, performer="m-pharm",
                       frequency=c.Frequency(1, 1, c.PeriodUnit.MONTH), goals=["goal-vl"]),
            c.Activity(id="act-adherence", description="Adherence check call",
                       kind=c.ActivityKind.COMMUNICATION_REQUEST,
                       status=c.ActivityStatus.IN_PROGRESS, performer="m-cm",
                       frequency=c.Frequency(2, 1, c.PeriodUnit.MONTH),
                       goals=["goal-adherence"]),
            c.Activity(id="act-labs", description="Viral load and CD4 every 3 months",
                       code=c.Code("http://loinc.org", "20447-9",
                                   "HIV 1 RNA [#/volume] (viral load) in Serum or Plasma"),
                       status=c.ActivityStatus.SCHEDULED, performer="m-pcp",
                       frequency=c.Frequency(1, 3, c.PeriodUnit.MONTH), goals=["goal-vl"]),
        ])
    case.status_history = history(("assessment", at(2024, 1, 16)), ("planning", at(2024, 1, 20)),
                                  ("active", at(2024, 1, 22, 12)))
    case.reviews = [c.Review(id="rev-1", due=date(2024, 2, 21), done_at=at(2024, 2, 20),
                             mode=c.ReviewMode.PHONE, outcome=c.ReviewOutcome.NOT_PROGRESSING,
                             notes="Missed 6 doses; nausea after new regimen.",
                             goal_updates={"goal-adherence": c.GoalAchievement.WORSENING})]
    case.notes = [c.Note(id="note-1", at=at(2024, 2, 20, 11), author="Priya Shah",
                         text="Side effects: nausea, fatigue. PCP informed.")]
    add_hiv_funding(case)
    add_hiv_encounters(case)
    add_hiv_referrals(case)
    return case


# --- stroke: discharge to inpatient rehabilitation --------------------------------------

def stroke() -> c.Case:
    """A stroke patient discharged from the acute ward to inpatient rehabilitation."""
    case = c.Case(
        id="case-stroke",
        patient=c.Patient(name=c.HumanName("Novak", ["Helen", "M."]),
                          birth_date=date(1952, 2, 9), gender=c.Gender.FEMALE),
        model=c.CaseModel.BROKERAGE, setting=c.Setting.HOSPITAL, program="stroke",
        case_manager=c.Party("Ben Cole, RN", reference="Practitioner/ben-cole"),
        opened_at=at(2024, 7, 1), status=c.CaseStatus.CLOSED, closed_at=at(2024, 7, 12),
        version=7,
    )
    stroke_dx = c.Condition(id="cond-stroke", code=sct("422504002", "Ischemic stroke"),
                            onset=date(2024, 6, 29))
    case.assessment = c.Assessment(assessed_on=date(2024, 7, 2), conditions=[stroke_dx],
                                   needs=["inpatient rehabilitation bed"])
    case.care_team = [
        member("m-cm", "Ben Cole, RN", "case-manager",
               period=c.Period(date(2024, 7, 1), date(2024, 7, 12))),
        member("m-neuro", "Dr. Sara Kim", "neurologist",
               on_behalf_of=c.Party("County Hospital"),
               period=c.Period(date(2024, 6, 29), date(2024, 7, 10))),
        member("m-rehab", "Lakeside Rehabilitation Center", "healthcare-professional",
               kind=c.MemberKind.ORGANIZATION, period=c.Period(date(2024, 7, 10))),
    ]
    g = c.Goal(id="goal-transfer", description="Transfer to inpatient rehabilitation",
               lifecycle_status=c.GoalLifecycle.COMPLETED,
               achievement_status=c.GoalAchievement.ACHIEVED, target_date=date(2024, 7, 10))
    case.plan = c.Plan(status=c.PlanStatus.COMPLETED,
                       period=c.Period(date(2024, 7, 3), date(2024, 7, 12)),
                       approved_by=c.Party("Dr. Sara Kim"), approved_at=at(2024, 7, 3),
                       goals=[g],
                       activities=[c.Activity(id="act-transfer",
                                              description="Arrange transfer to inpatient rehab",
                                              kind=c.ActivityKind.TASK,
                                              status=c.ActivityStatus.COMPLETED,
                                              performer="m-cm", goals=["goal-transfer"])])
    case.status_history = history(("assessment", at(2024, 7, 1, 12)),
                                  ("planning", at(2024, 7, 2, 12)),
                                  ("active", at(2024, 7, 3, 12)),
                                  ("transition", at(2024, 7, 9)),
                                  ("closed", at(2024, 7, 12)))
    add_stroke_funding(case)
    add_stroke_encounters(case)
    add_stroke_referrals(case)
    return case


# === FUNDING / ENCOUNTERS / REFERRALS: filled by the funding/encounter/referral owner =====

HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"
PAYER_ID = "https://payers.example.org/payer-id"  # an example payer-id registry
ADMISSION = sct("32485007", "Hospital admission")


def hcpcs(code: str, display: str) -> c.Code:
    return c.Code(HCPCS, code, display)


def payer(name: str, payer_id: str) -> c.Party:
    """A payer the hub serves as an Organization of its own (no partner reference)."""
    return c.Party(name, identifier=c.Identifier(PAYER_ID, payer_id))


def member_org(case: c.Case, member_id: str) -> c.Party:
    """A care-team organization as a party: the Organization the care team maps to."""
    from hub.mappings.identity import resource_id
    m = next(m for m in case.care_team if m.id == member_id)
    org_id = resource_id(case.id, "care-team-member", m.id)
    return c.Party(m.name, reference=f"Organization/{org_id}")


def referral(rid: str, service: c.Code, agency: c.Party | None, moves, **kw) -> c.Referral:
    """A referral moved through its lifecycle by the actors who may make each move:
    ``moves`` is ``[(status, actor, at, reason)]`` (reason optional)."""
    ref = c.Referral(id=rid, service=service, agency=agency, **kw)
    for to, actor, when, *reason in moves:
        ref.move(c.ReferralStatus(to), actor, reason[0] if reason else None, at=when)
    return ref


REQ, OWN = c.Actor.REQUESTER, c.Actor.OWNER


def add_river_funding(case: c.Case) -> None:
    """FUNDING of the River case: health insurance primary (outpatient rehab authorized in
    visits; neuropsychology partly certified), the patient's own co-payments second."""
    case.funding = [
        c.FundingSource(
            id="f-health", kind=c.FundingKind.INSURANCE,
            payer=payer("Prairie Mutual Health", "PMH01"), plan="PPO Gold",
            member_id="PMH-448812-01", group="SPFLD-SCHOOLS",
            period=c.Period(date(2024, 1, 1), date(2024, 12, 31)),
            decisions=[
                c.CoverageDecision(
                    id="dec-stay", service=ADMISSION, status=c.DecisionStatus.AUTH_APPROVED,
                    authorization_number="PMH-IP-240301-118",
                    period=c.Period(date(2024, 3, 1), date(2024, 3, 9)),
                    decided_at=at(2024, 3, 4, 13), quantity=8,
                    note="Emergency admission notified 2024-03-01; 8 days certified on "
                         "concurrent review."),
                c.CoverageDecision(
                    id="dec-pt", service=sct("91251008", "Physical therapy procedure"),
                    status=c.DecisionStatus.AUTH_APPROVED,
                    authorization_number="PMH-PA-240308-201",
                    period=c.Period(date(2024, 3, 11), date(2024, 6, 28)),
                    decided_at=at(2024, 3, 8, 16), quantity=48, note="48 outpatient visits."),
                c.CoverageDecision(
                    id="dec-ot", service=sct("84478008", "Occupational therapy"),
                    status=c.DecisionStatus.AUTH_APPROVED,
                    authorization_number="PMH-PA-240308-202",
                    period=c.Period(date(2024, 3, 11), date(2024, 6, 28)),
                    decided_at=at(2024, 3, 8, 16), quantity=32, note="32 outpatient visits."),
                c.CoverageDecision(
                    id="dec-np", service=sct("386053000", "Evaluation procedure"),
                    status=c.DecisionStatus.AUTH_PARTIAL,
                    authorization_number="PMH-PA-240308-203",
                    period=c.Period(date(2024, 3, 11), date(2024, 5, 31)),
                    decided_at=at(2024, 3, 11, 10), quantity=10,
                    note="16 neuropsychology sessions requested, 10 certified; re-review "
                         "with progress notes after session 8."),
            ]),
        c.FundingSource(id="f-self", kind=c.FundingKind.SELF_PAY, payer=c.Party("Sam River"),
                        period=c.Period(date(2024, 3, 1)),
                        decisions=[c.CoverageDecision(
                            id="dec-copay", service=sct("91251008", "Physical therapy procedure"),
                            status=c.DecisionStatus.COVERED,
                            note="USD 25 co-payment per outpatient therapy visit.")]),
    ]


def add_river_encounters(case: c.Case) -> None:
    """ENCOUNTERS of the River case: the trauma admission and discharge home, the first
    outpatient physio/neuropsychology/OT visits, the case manager's phone reviews."""
    hospital = c.Party("Springfield General Hospital")
    clinic = c.Party("Springfield Rehab Clinic")
    case.encounters = [
        c.Encounter(id="enc-stay", kind=c.EncounterKind.INPATIENT,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 3, 1, 17, 40),
                    end=at(2024, 3, 9, 11), facility=hospital,
                    reason="Bicycle accident: traumatic brain injury, fractures of forearm "
                           "and femur",
                    discharge_disposition=c.DischargeDisposition.HOME),
        c.Encounter(id="enc-pt-1", kind=c.EncounterKind.AMBULATORY,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 3, 11, 10),
                    end=at(2024, 3, 11, 11), facility=clinic,
                    reason="Outpatient physiotherapy: first session", referral="ref-pt"),
        c.Encounter(id="enc-ot-1", kind=c.EncounterKind.AMBULATORY,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 3, 12, 14),
                    end=at(2024, 3, 12, 15), facility=clinic,
                    reason="Occupational therapy: first session", referral="ref-ot"),
        c.Encounter(id="enc-np-1", kind=c.EncounterKind.AMBULATORY,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 3, 14, 9),
                    end=at(2024, 3, 14, 11),
                    facility=c.Party("Springfield Neuropsychology Associates"),
                    reason="Neuropsychological assessment", referral="ref-np"),
        c.Encounter(id="enc-call-1", kind=c.EncounterKind.VIRTUAL,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 3, 21, 10),
                    end=at(2024, 3, 21, 10, 25), reason="Case manager phone review"),
        c.Encounter(id="enc-call-2", kind=c.EncounterKind.VIRTUAL,
                    status=c.EncounterStatus.PLANNED, start=at(2024, 4, 4, 10),
                    reason="Case manager phone review"),
    ]


def add_river_referrals(case: c.Case) -> None:
    """REFERRALS of the River case: outpatient physio and OT to the rehab clinic,
    neuropsychology to a practice."""
    clinic = c.Party("Springfield Rehab Clinic")
    rehab = c.Period(date(2024, 3, 11), date(2024, 6, 28))
    case.referrals = [
        referral("ref-pt", sct("91251008", "Physical therapy procedure"), clinic,
                 [("requested", REQ, at(2024, 3, 8, 15, 30)),
                  ("accepted", OWN, at(2024, 3, 8, 17)),
                  ("in-progress", OWN, at(2024, 3, 11, 10))],
                 activity="act-pt", period=rehab, business_status="3 sessions a week booked",
                 description="Outpatient physiotherapy 3x/week: gait training, progressive "
                             "weight bearing on the left femur",
                 reason="Fractures of femur and forearm after a bicycle accident"),
        referral("ref-ot", sct("84478008", "Occupational therapy"), clinic,
                 [("requested", REQ, at(2024, 3, 8, 15, 30)),
                  ("accepted", OWN, at(2024, 3, 8, 17)),
                  ("in-progress", OWN, at(2024, 3, 12, 14))],
                 activity="act-ot", period=rehab,
                 description="Occupational therapy 2x/week: daily activities, upper limb",
                 reason="Return to daily activities after TBI and forearm fracture"),
        referral("ref-np", sct("386053000", "Evaluation procedure"),
                 c.Party("Springfield Neuropsychology Associates"),
                 [("requested", REQ, at(2024, 3, 8, 15, 30)),
                  ("received", OWN, at(2024, 3, 9, 9)),
                  ("accepted", OWN, at(2024, 3, 11, 12))],
                 activity="act-np", period=rehab,
                 description="Neuropsychological assessment, then weekly memory and "
                             "attention training",
                 reason="Moderate traumatic brain injury"),
    ]


def add_osteomyelitis_funding(case: c.Case) -> None:
    """FUNDING of the osteomyelitis case (insurer primary, charity second): the insurer
    covers the stay and home nursing but denies home infusion (HCPCS S9500); after talks
    between case manager, infusion pharmacy, home-care company and insurer, the hospital's
    charity fund pays the home infusion."""
    s9500 = hcpcs("S9500", "Home infusion therapy, antibiotic, antiviral, or antifungal "
                           "therapy; once every 24 hours")
    home_iv = c.Period(date(2024, 5, 6), date(2024, 5, 27))
    case.funding = [
        c.FundingSource(
            id="f-insurer", kind=c.FundingKind.INSURANCE,
            payer=payer("Heartland Health Plan", "HHP02"), plan="HMO Silver",
            member_id="HHP-771203-02", group="RIVERTON-MILLS",
            period=c.Period(date(2024, 1, 1), date(2024, 12, 31)),
            decisions=[
                c.CoverageDecision(
                    id="dec-stay", service=ADMISSION, status=c.DecisionStatus.AUTH_APPROVED,
                    authorization_number="HHP-IP-240429-552",
                    period=c.Period(date(2024, 4, 29), date(2024, 5, 6)),
                    decided_at=at(2024, 4, 30, 10), quantity=7,
                    note="Inpatient stay incl. debridement and IV antibiotics."),
                c.CoverageDecision(
                    id="dec-home-iv", service=s9500, status=c.DecisionStatus.AUTH_DENIED,
                    authorization_number="HHP-PA-240503-077", period=home_iv,
                    decided_at=at(2024, 5, 3, 16), quantity=21,
                    note="Home infusion is not a benefit of the plan: IV antibiotics are "
                         "covered inpatient only. Peer-to-peer review 2024-05-04 upheld the "
                         "denial."),
                c.CoverageDecision(
                    id="dec-nursing", service=hcpcs(
                        "G0299", "Direct skilled nursing services of a registered nurse (RN) "
                                 "in the home health or hospice setting, each 15 minutes"),
                    status=c.DecisionStatus.AUTH_APPROVED,
                    authorization_number="HHP-PA-240503-078", period=home_iv,
                    decided_at=at(2024, 5, 3, 16), quantity=16,
                    note="Weekly PICC line care and blood draws: 4 visits of 1 hour."),
            ]),
        c.FundingSource(
            id="f-charity", kind=c.FundingKind.CHARITY,
            payer=payer("Riverton Hospital Patient Assistance Fund", "RHPAF"),
            plan="Home infusion grant", member_id="RHPAF-2024-0153",
            period=c.Period(date(2024, 5, 6), date(2024, 5, 31)),
            decisions=[c.CoverageDecision(
                id="dec-grant", service=s9500, status=c.DecisionStatus.COVERED,
                authorization_number="GRANT-2024-0153", period=home_iv,
                decided_at=at(2024, 5, 5, 9), quantity=21,
                note="Grant pays 21 per diems including vancomycin and supplies, at the rate "
                     "negotiated with Riverton Infusion Pharmacy and CarePlus Home Health.")]),
    ]


def add_osteomyelitis_encounters(case: c.Case) -> None:
    """ENCOUNTERS of the osteomyelitis case (the hospital stay and discharge to home health,
    NUBC 06; the first home infusion visit planned for the afternoon)."""
    agency = member_org(case, "m-agency")
    case.encounters = [
        c.Encounter(id="enc-stay", kind=c.EncounterKind.INPATIENT,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 4, 29, 14, 20),
                    end=at(2024, 5, 6, 11), facility=c.Party("Riverton Hospital"),
                    reason="Chronic osteomyelitis of the left tibia: debridement, IV "
                           "antibiotics started",
                    discharge_disposition=c.DischargeDisposition.HOME_HEALTH),
        c.Encounter(id="enc-visit-1", kind=c.EncounterKind.HOME_VISIT,
                    status=c.EncounterStatus.PLANNED, start=at(2024, 5, 6, 15),
                    facility=agency, reason="First home infusion: PICC check and teaching",
                    referral="ref-home-infusion"),
    ]


def add_osteomyelitis_referrals(case: c.Case) -> None:
    """REFERRALS of the osteomyelitis case: home infusion nursing to CarePlus Home Health
    and the drug and supplies to the infusion pharmacy, both accepted before discharge."""
    home_iv = c.Period(date(2024, 5, 6), date(2024, 5, 27))
    case.referrals = [
        referral("ref-home-infusion", sct("281790008", "Intravenous antibiotic therapy"),
                 member_org(case, "m-agency"),
                 [("requested", REQ, at(2024, 5, 3, 10)),
                  ("accepted", OWN, at(2024, 5, 4, 9, 30))],
                 activity="act-iv", period=home_iv, business_status="first visit scheduled",
                 description="Daily IV vancomycin via PICC for 21 days; weekly PICC care and "
                             "CBC/CRP draws",
                 reason="Chronic osteomyelitis: three weeks of IV antibiotics after "
                        "discharge"),
        referral("ref-pharmacy", hcpcs("S9500", "Home infusion therapy, antibiotic, "
                                                "antiviral, or antifungal therapy; once every "
                                                "24 hours"),
                 c.Party("Riverton Infusion Pharmacy"),
                 [("requested", REQ, at(2024, 5, 3, 10)),
                  ("accepted", OWN, at(2024, 5, 5, 11))],
                 activity="act-iv", period=home_iv,
                 business_status="delivery booked for discharge day",
                 description="Vancomycin, elastomeric pumps and PICC supplies delivered home",
                 reason="Home IV antibiotics; paid by the charity grant"),
    ]


def add_hiv_funding(case: c.Case) -> None:
    """FUNDING of the HIV case: the insurer's own plan; the antiretroviral regimen and the
    monitoring labs are covered."""
    case.funding = [c.FundingSource(
        id="f-acme", kind=c.FundingKind.INSURANCE, payer=payer("Acme Health", "ACME"),
        plan="Acme Choice PPO", member_id="ACM-55521", group="GRP-2024-778",
        period=c.Period(date(2024, 1, 1), date(2024, 12, 31)),
        decisions=[
            c.CoverageDecision(
                id="dec-art", service=c.Code(ATC, "J05AR20",
                                             "emtricitabine, tenofovir alafenamide and "
                                             "bictegravir"),
                status=c.DecisionStatus.COVERED,
                period=c.Period(date(2024, 1, 1), date(2024, 12, 31)),
                decided_at=at(2024, 1, 22, 15), quantity=12,
                note="Specialty tier, no co-payment: 30-day fills via Acme Specialty "
                     "Pharmacy."),
            c.CoverageDecision(
                id="dec-vl", service=c.Code(LOINC, "20447-9", "HIV 1 RNA [#/volume] (viral "
                                                              "load) in Serum or Plasma"),
                status=c.DecisionStatus.COVERED,
                period=c.Period(date(2024, 1, 1), date(2024, 12, 31)), quantity=4,
                note="Quarterly viral load."),
            c.CoverageDecision(
                id="dec-cd4", service=c.Code(LOINC, "24467-3", "CD3+CD4+ (T4 helper) cells "
                                                               "[#/volume] in Blood"),
                status=c.DecisionStatus.COVERED,
                period=c.Period(date(2024, 1, 1), date(2024, 12, 31)), quantity=4,
                note="Quarterly CD4 count."),
        ])]


def add_hiv_encounters(case: c.Case) -> None:
    """ENCOUNTERS of the HIV case: monthly phone reviews and the quarterly blood draw."""
    case.encounters = [
        c.Encounter(id="enc-call-jan", kind=c.EncounterKind.VIRTUAL,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 1, 22, 14),
                    end=at(2024, 1, 22, 14, 30), reason="Monthly phone review: plan agreed"),
        c.Encounter(id="enc-labs-feb", kind=c.EncounterKind.AMBULATORY,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 2, 12, 8, 30),
                    end=at(2024, 2, 12, 8, 45), facility=c.Party("Eastside Clinic Laboratory"),
                    reason="Viral load and CD4 blood draw"),
        c.Encounter(id="enc-call-feb", kind=c.EncounterKind.VIRTUAL,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 2, 20),
                    end=at(2024, 2, 20, 9, 25),
                    reason="Monthly phone review: missed doses, nausea"),
        c.Encounter(id="enc-call-mar", kind=c.EncounterKind.VIRTUAL,
                    status=c.EncounterStatus.PLANNED, start=at(2024, 3, 20),
                    reason="Monthly phone review"),
    ]


def add_hiv_referrals(case: c.Case) -> None:
    """REFERRALS of the HIV case: adherence packaging and pharmacist counselling with the
    monthly refill, at the specialty pharmacy."""
    case.referrals = [referral(
        "ref-adherence", c.Code("https://acme-health.example/CodeSystem/care-program",
                                "ADH-PHARM", "Pharmacist adherence support with monthly "
                                             "refill"),
        c.Party("Acme Specialty Pharmacy"),
        [("requested", REQ, at(2024, 2, 20, 11, 30)),
         ("accepted", OWN, at(2024, 2, 21, 9)),
         ("in-progress", OWN, at(2024, 2, 26, 10))],
        activity="act-meds", period=c.Period(date(2024, 2, 26), date(2024, 8, 31)),
        business_status="blister packs with the March refill",
        description="Blister-pack the regimen, counsel on nausea with each monthly refill, "
                    "report missed refills to the case manager",
        reason="Missed doses and nausea since the regimen change")]


def add_stroke_funding(case: c.Case) -> None:
    """FUNDING of the stroke case: a Medicare Advantage plan; inpatient rehabilitation
    needed prior authorization (approved with a number and a period)."""
    case.funding = [c.FundingSource(
        id="f-ma", kind=c.FundingKind.INSURANCE,
        payer=payer("Lakeshore Senior Advantage", "LSA03"), plan="Medicare Advantage HMO",
        member_id="LSA-520209-01", period=c.Period(date(2024, 1, 1), date(2024, 12, 31)),
        decisions=[
            c.CoverageDecision(
                id="dec-acute", service=ADMISSION, status=c.DecisionStatus.AUTH_APPROVED,
                authorization_number="LSA-IP-240629-3321",
                period=c.Period(date(2024, 6, 29), date(2024, 7, 10)),
                decided_at=at(2024, 7, 1, 11), quantity=11,
                note="Emergency admission; acute days certified on concurrent review."),
            c.CoverageDecision(
                id="dec-irf", service=sct("52052004", "Rehabilitation therapy"),
                status=c.DecisionStatus.AUTH_APPROVED,
                authorization_number="LSA-PA-240709-0457",
                period=c.Period(date(2024, 7, 10), date(2024, 7, 23)),
                decided_at=at(2024, 7, 9, 15, 30), quantity=14,
                note="Inpatient rehabilitation facility: 14 days certified; concurrent "
                     "review by day 12."),
        ])]


def add_stroke_encounters(case: c.Case) -> None:
    """ENCOUNTERS of the stroke case (emergency department, acute stay, discharge to
    inpatient rehab, the rehab admission)."""
    hospital = c.Party("County Hospital")
    case.encounters = [
        c.Encounter(id="enc-ed", kind=c.EncounterKind.EMERGENCY,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 6, 29, 6, 55),
                    end=at(2024, 6, 29, 7, 45), facility=hospital,
                    reason="Acute left-sided weakness and aphasia"),
        c.Encounter(id="enc-acute", kind=c.EncounterKind.INPATIENT,
                    status=c.EncounterStatus.FINISHED, start=at(2024, 6, 29, 7, 45),
                    end=at(2024, 7, 10, 10, 30), facility=hospital,
                    reason="Acute ischemic stroke",
                    discharge_disposition=c.DischargeDisposition.REHABILITATION),
        c.Encounter(id="enc-irf", kind=c.EncounterKind.INPATIENT,
                    status=c.EncounterStatus.IN_PROGRESS, start=at(2024, 7, 10, 12),
                    facility=member_org(case, "m-rehab"),
                    reason="Inpatient rehabilitation after ischemic stroke",
                    referral="ref-irf"),
    ]


def add_stroke_referrals(case: c.Case) -> None:
    """REFERRALS of the stroke case: the transfer to inpatient rehabilitation, completed
    when the rehab centre admitted the patient."""
    case.referrals = [referral(
        "ref-irf", sct("52052004", "Rehabilitation therapy"), member_org(case, "m-rehab"),
        [("requested", REQ, at(2024, 7, 8, 10)),
         ("accepted", OWN, at(2024, 7, 9, 16)),
         ("in-progress", OWN, at(2024, 7, 10, 10, 30)),
         ("completed", OWN, at(2024, 7, 10, 12))],
        activity="act-transfer", period=c.Period(date(2024, 7, 10), date(2024, 7, 23)),
        business_status="patient admitted",
        description="Transfer to inpatient rehabilitation (3 hours of therapy a day); "
                    "authorization LSA-PA-240709-0457",
        reason="Ischemic stroke with hemiparesis and aphasia")]


# === golden files ======================================================================

SCENARIOS = {"river": river, "osteomyelitis": osteomyelitis, "hiv": hiv, "stroke": stroke}


def fixture_name(resource: dict) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def _without(data, path: tuple[str, ...]):
    """Drop the dotted ``path`` (through lists) from dumped case data, in place."""
    if isinstance(data, list):
        for item in data:
            _without(item, path)
    elif isinstance(data, dict) and path:
        if len(path) == 1:
            data.pop(path[0], None)
        elif path[0] in data:
            _without(data[path[0]], path[1:])
    return data


def _compact(data):
    """Dumped data without nulls and empty lists/objects (the input defaults)."""
    if isinstance(data, dict):
        out = {k: _compact(v) for k, v in data.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(data, list):
        return [_compact(v) for v in data]
    return data


def case_input(case: c.Case) -> dict:
    """The case record as a client posts it to ``/api/cases``: the schema's JSON form
    without the server-owned parts (``hub.schemas.SERVER_OWNED``)."""
    from hub.schemas import SERVER_OWNED, CaseSchema
    data = CaseSchema().dump(case)
    for dotted in SERVER_OWNED:
        _without(data, tuple(dotted.split(".")))
    return _compact(data)


def write_case_inputs(root: Path = CASE_INPUTS) -> None:
    """Write ``fixtures/cases/<scenario>.json`` for the generated scenarios."""
    root.mkdir(parents=True, exist_ok=True)
    for name in GENERATED_CASE_INPUTS:
        (root / f"{name}.json").write_text(
            json.dumps(case_input(SCENARIOS[name]()), indent=2, ensure_ascii=False) + "\n")


def write_fixtures(root: Path = FIXTURES, cases_root: Path = CASE_INPUTS) -> None:
    """Write ``fixtures/fhir/<scenario>/<Type>-<id>.json`` for every scenario (replacing
    the scenario folders' JSON files) and the scenarios' case inputs (``fixtures/cases``)."""
    from hub.mappings.case_bundle import case_to_fhir
    write_case_inputs(cases_root)
    for name, build in SCENARIOS.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.json"):
            old.unlink()
        for resource in case_to_fhir(build()):
            (folder / fixture_name(resource)).write_text(
                json.dumps(resource, indent=2, ensure_ascii=False) + "\n")
