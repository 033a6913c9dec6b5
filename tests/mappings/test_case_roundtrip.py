"""Property: case_from_fhir(case_to_fhir(case)) == case, and every resource is valid R4."""

from __future__ import annotations

import string
from datetime import date, datetime, timedelta, timezone

from fhircheck import assert_valid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import cases as c
from hub.fhir import parse_resource
from hub.mappings.case_bundle import case_from_fhir, case_to_fhir

TZ = st.sampled_from([timezone.utc, timezone(timedelta(hours=2)),
                      timezone(timedelta(hours=-5, minutes=-30))])
ids = st.from_regex(r"[a-z][a-z0-9-]{0,11}", fullmatch=True)
words = st.text(alphabet=string.ascii_letters + string.digits + " .,'-", min_size=1,
                max_size=24).map(str.strip).filter(bool)
codes = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,9}", fullmatch=True)
systems = st.sampled_from(["http://snomed.info/sct", "http://loinc.org", "urn:oid:1.2.3.4",
                           "https://example.org/codes"])
dates = st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31))
datetimes = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                         timezones=TZ).map(lambda d: d.replace(microsecond=0))
code_values = st.builds(c.Code, system=systems, code=codes, display=st.none() | words)
identifiers = st.builds(c.Identifier, system=systems, value=codes,
                        kind=st.sampled_from(c.IdentifierKind))


@st.composite
def periods(draw):
    start, end = draw(st.none() | dates), draw(st.none() | dates)
    if start is None and end is None:
        start = draw(dates)
    if start and end and end < start:
        start, end = end, start
    return c.Period(start=start, end=end)


addresses = st.builds(c.Address, lines=st.lists(words, max_size=2), city=st.none() | words,
                      state=st.none() | codes, postal_code=st.none() | codes,
                      country=st.none() | codes).filter(lambda a: a != c.Address())
contacts = st.builds(c.Contact, phone=st.none() | codes, email=st.none() | codes,
                     address=st.none() | addresses).filter(lambda x: x != c.Contact())


def parties(resource_type: str):
    ref = st.none() | ids.map(lambda i: f"{resource_type}/{i}")
    return st.builds(c.Party, name=words, identifier=st.none() | identifiers, reference=ref)


@st.composite
def members(draw):
    kind = draw(st.sampled_from(c.MemberKind))
    contact = draw(st.none() | contacts)
    if kind == c.MemberKind.PATIENT:
        contact = None  # a patient member's contact is the patient's own
    if kind == c.MemberKind.PRACTITIONER_ROLE and contact is not None:
        contact.address = None  # PractitionerRole has no address
        contact = None if contact == c.Contact() else contact
    behalf = None
    if kind in (c.MemberKind.PRACTITIONER, c.MemberKind.PRACTITIONER_ROLE):
        behalf = draw(st.none() | parties("Organization"))
    return c.CareTeamMember(name=draw(words), role=draw(code_values), id=draw(ids), kind=kind,
                            identifier=draw(st.none() | identifiers), on_behalf_of=behalf,
                            period=draw(st.none() | periods()), contact=contact)


@st.composite
def case_records(draw):
    patient = st.builds(c.Patient, name=st.builds(c.HumanName, family=words,
                                                  given=st.lists(words, max_size=2)),
                        birth_date=st.none() | dates, gender=st.sampled_from(c.Gender),
                        identifiers=st.lists(identifiers, max_size=2),
                        contact=st.none() | contacts)
    conditions = draw(st.lists(st.builds(c.Condition, code=code_values, id=ids,
                                         category=st.sampled_from(c.ConditionCategory),
                                         clinical_status=st.sampled_from(c.ConditionStatus),
                                         onset=st.none() | dates, note=st.none() | words),
                               max_size=3, unique_by=lambda x: x.id))
    assessment = draw(st.none() | st.builds(
        c.Assessment, assessed_on=st.none() | dates, assessor=st.none() | parties("Practitioner"),
        conditions=st.just(conditions), needs=st.lists(words, max_size=3),
        strengths=st.lists(words, max_size=3), summary=st.none() | words))
    cond_ids = [x.id for x in assessment.conditions] if assessment else []
    team = draw(st.lists(members(), max_size=4, unique_by=lambda m: m.id))
    goals = draw(st.lists(st.builds(
        c.Goal, description=words, id=ids, lifecycle_status=st.sampled_from(c.GoalLifecycle),
        achievement_status=st.none() | st.sampled_from(c.GoalAchievement),
        target_date=st.none() | dates,
        addresses=st.lists(st.sampled_from(cond_ids), max_size=2) if cond_ids else st.just([])),
        max_size=3, unique_by=lambda g: g.id))
    goal_ids = [g.id for g in goals]
    pick_goals = st.lists(st.sampled_from(goal_ids), max_size=2) if goal_ids else st.just([])
    performers = st.none() | (st.sampled_from([m.id for m in team]) if team else st.none()) | ids
    activities = draw(st.lists(st.builds(
        c.Activity, description=words, id=ids, kind=st.sampled_from(c.ActivityKind),
        code=st.none() | code_values, status=st.sampled_from(c.ActivityStatus),
        performer=performers,
        frequency=st.none() | st.builds(c.Frequency, count=st.integers(1, 10),
                                        period=st.integers(1, 12),
                                        unit=st.sampled_from(c.PeriodUnit)),
        period=st.none() | periods(), goals=pick_goals, progress=st.lists(words, max_size=2)),
        max_size=4, unique_by=lambda a: a.id))
    plan = c.Plan(status=draw(st.sampled_from(c.PlanStatus)), period=draw(st.none() | periods()),
                  approved_by=draw(st.none() | parties("Practitioner")),
                  approved_at=draw(st.none() | datetimes), goals=goals, activities=activities,
                  revised_at=draw(st.none() | datetimes))
    updates = st.dictionaries(st.sampled_from(goal_ids), st.sampled_from(c.GoalAchievement),
                              max_size=2) if goal_ids else st.just({})
    reviews = draw(st.lists(st.builds(
        c.Review, due=dates, id=ids, done_at=st.none() | datetimes,
        mode=st.sampled_from(c.ReviewMode), outcome=st.none() | st.sampled_from(c.ReviewOutcome),
        reviewer=st.none() | words, notes=st.none() | words, goal_updates=updates),
        max_size=2, unique_by=lambda r: r.id))
    notes = draw(st.lists(st.builds(c.Note, text=words, at=datetimes, author=st.none() | words,
                                    id=ids), max_size=2, unique_by=lambda n: n.id))
    history = draw(st.lists(st.builds(c.StatusChange, status=st.sampled_from(
        [s.value for s in c.CaseStatus]), at=datetimes, reason=st.none() | words,
        by=st.none() | words), max_size=3))
    opened = draw(datetimes)
    return c.Case(
        patient=draw(patient), model=draw(st.sampled_from(c.CaseModel)),
        setting=draw(st.sampled_from(c.Setting)), id=draw(ids | st.uuids().map(str)),
        version=draw(st.integers(1, 1000)), status=draw(st.sampled_from(c.CaseStatus)),
        program=draw(st.none() | codes), case_manager=draw(st.none() | parties("Practitioner")),
        opened_at=opened, closed_at=draw(st.none() | st.just(opened + timedelta(days=3))),
        review_interval_days=draw(st.none() | st.integers(1, 365)), assessment=assessment,
        plan=plan, care_team=team, reviews=reviews, notes=notes, status_history=history)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_records())
def test_case_round_trips_exactly(case):
    resources = case_to_fhir(case)
    for r in resources:
        parse_resource(r)
    assert case_from_fhir(resources) == case
    assert case_from_fhir({"resourceType": "Bundle", "type": "collection",
                           "entry": [{"resource": r} for r in reversed(resources)]}) == case


def test_generated_cases_pass_the_independent_validator(tmp_path):
    collected: list[dict] = []

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(case_records())
    def collect(case):
        collected.extend(case_to_fhir(case))

    collect()
    assert_valid(collected, tmp_path)
