"""The four reference cases, as Python builders, and their golden FHIR fixtures.

Scenario builders are deterministic (fixed ids and times) so their FHIR form can be committed
under ``fixtures/fhir/<scenario>/`` and compared in tests. The parts marked
``FUNDING / ENCOUNTERS / REFERRALS`` are filled by the funding/encounter/referral mappings'
owner; the rest (patient, case, assessment, plan, team, reviews, notes) by the case mappings'.

Regenerate the golden files after an intended mapping change with
``python -c "from tests.scenarios import write_fixtures; write_fixtures()"``.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

from hub import cases as c
from hub.mappings.codes import CARE_TEAM_ROLES, SNOMED

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"
UTC = timezone.utc


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

def add_river_funding(case: c.Case) -> None:
    """FUNDING of the River case."""


def add_river_encounters(case: c.Case) -> None:
    """ENCOUNTERS of the River case."""


def add_river_referrals(case: c.Case) -> None:
    """REFERRALS of the River case."""


def add_osteomyelitis_funding(case: c.Case) -> None:
    """FUNDING of the osteomyelitis case (insurer primary, charity second)."""


def add_osteomyelitis_encounters(case: c.Case) -> None:
    """ENCOUNTERS of the osteomyelitis case (the hospital stay and discharge)."""


def add_osteomyelitis_referrals(case: c.Case) -> None:
    """REFERRALS of the osteomyelitis case (home infusion)."""


def add_hiv_funding(case: c.Case) -> None:
    """FUNDING of the HIV case."""


def add_hiv_encounters(case: c.Case) -> None:
    """ENCOUNTERS of the HIV case."""


def add_hiv_referrals(case: c.Case) -> None:
    """REFERRALS of the HIV case."""


def add_stroke_funding(case: c.Case) -> None:
    """FUNDING of the stroke case."""


def add_stroke_encounters(case: c.Case) -> None:
    """ENCOUNTERS of the stroke case (acute stay, discharge to rehab)."""


def add_stroke_referrals(case: c.Case) -> None:
    """REFERRALS of the stroke case."""


# === golden files ======================================================================

SCENARIOS = {"river": river, "osteomyelitis": osteomyelitis, "hiv": hiv, "stroke": stroke}


def fixture_name(resource: dict) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def write_fixtures(root: Path = FIXTURES) -> None:
    """Write ``fixtures/fhir/<scenario>/<Type>-<id>.json`` for every scenario (replacing
    the scenario folders' JSON files)."""
    from hub.mappings.case_bundle import case_to_fhir
    for name, build in SCENARIOS.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.json"):
            old.unlink()
        for resource in case_to_fhir(build()):
            (folder / fixture_name(resource)).write_text(
                json.dumps(resource, indent=2, ensure_ascii=False) + "\n")
