"""Property: case_from_fhir(case_to_fhir(case)) == case, and every resource is valid R4."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta, timezone

from fhircheck import assert_valid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import cases as c
from hub.fhir import parse_resource
from hub.mappings.case_bundle import case_from_fhir, case_to_fhir

TZ = st.sampled_from([UTC, timezone(timedelta(hours=2)),
                      timezone(timedelta(hours=-5, minutes=-30))])
# plain text strategies rather than from_regex: generation dominates the run time
_lower = string.ascii_lowercase
_alnum = string.ascii_letters + string.digits
ids = st.builds(str.__add__, st.sampled_from(_lower),
                st.text(alphabet=_lower + string.digits + "-", max_size=11))
words = st.text(alphabet=_alnum + " .,'-", min_size=1, max_size=24).map(str.strip).filter(bool)
codes = st.builds(str.__add__, st.sampled_from(_alnum),
                  st.text(alphabet=_alnum + ".-", max_size=9))
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


# --- funding, encounters, referrals ----------------------------------------------------

decisions = st.builds(
    c.CoverageDecision, service=code_values, status=st.sampled_from(c.DecisionStatus), id=ids,
    authorization_number=st.none() | codes, period=st.none() | periods(),
    decided_at=st.none() | datetimes, quantity=st.none() | st.integers(0, 10_000),
    note=st.none() | words)


def fundings():
    """Funding sources in priority order, each with its coverage decisions."""
    return st.lists(st.builds(
        c.FundingSource, kind=st.sampled_from(c.FundingKind), payer=parties("Organization"),
        id=ids, status=st.sampled_from(c.FundingStatus), plan=st.none() | codes,
        member_id=st.none() | codes, group=st.none() | codes,
        relationship=st.sampled_from(c.SubscriberRelationship), period=st.none() | periods(),
        decisions=st.lists(decisions, max_size=2, unique_by=lambda d: d.id)),
        max_size=3, unique_by=lambda f: f.id)


status_changes = st.builds(c.StatusChange,
                           status=st.sampled_from([s.value for s in c.ReferralStatus]),
                           at=datetimes, reason=st.none() | words,
                           by=st.none() | st.sampled_from([a.value for a in c.Actor]))


def referrals(activity_ids: list[str]):
    """Referrals, each carrying out one of the plan's activities (or none), with history."""
    activity = st.none() | (st.sampled_from(activity_ids) if activity_ids else st.none())
    return st.lists(st.builds(
        c.Referral, service=code_values, agency=st.none() | parties("Organization"), id=ids,
        status=st.sampled_from(c.ReferralStatus), description=st.none() | words,
        reason=st.none() | words, status_reason=st.none() | words,
        business_status=st.none() | words, activity=activity, period=st.none() | periods(),
        requested_at=st.none() | datetimes, history=st.lists(status_changes, max_size=3),
        offered_to=st.lists(parties("Organization"), max_size=2)).filter(
            # the owner alone as recipient names no candidates (recipients_of)
            lambda r: not (r.agency is not None and r.offered_to == [r.agency])),
        max_size=3, unique_by=lambda r: r.id)


@st.composite
def encounter_records(draw, referral_ids: list[str]):
    start = draw(st.none() | datetimes)
    end = draw(st.none() | datetimes)
    if start is not None and end is not None and end < start:
        start, end = end, start
    referral = draw(st.none() | (st.sampled_from(referral_ids) if referral_ids else st.none()))
    return c.Encounter(kind=draw(st.sampled_from(c.EncounterKind)), id=draw(ids),
                       status=draw(st.sampled_from(c.EncounterStatus)), start=start, end=end,
                       facility=draw(st.none() | parties("Organization")),
                       reason=draw(st.none() | words),
                       discharge_disposition=draw(
                           st.none() | st.sampled_from(c.DischargeDisposition)),
                       referral=referral)


def encounters(referral_ids: list[str]):
    """Encounters (stays, visits, reviews), a visit possibly fulfilling one referral."""
    return st.lists(encounter_records(referral_ids), max_size=4, unique_by=lambda e: e.id)


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
    funding = draw(fundings())
    refs = draw(referrals([a.id for a in activities]))
    encs = draw(encounters([r.id for r in refs]))
    return c.Case(
        patient=draw(patient), model=draw(st.sampled_from(c.CaseModel)),
        setting=draw(st.sampled_from(c.Setting)), id=draw(ids | st.uuids().map(str)),
        version=draw(st.integers(1, 1000)), status=draw(st.sampled_from(c.CaseStatus)),
        program=draw(st.none() | codes), case_manager=draw(st.none() | parties("Practitioner")),
        opened_at=opened, closed_at=draw(st.none() | st.just(opened + timedelta(days=3))),
        review_interval_days=draw(st.none() | st.integers(1, 365)), assessment=assessment,
        plan=plan, care_team=team, funding=funding, encounters=encs, referrals=refs,
        reviews=reviews, notes=notes, status_history=history)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_records(), st.randoms(use_true_random=False))
def test_case_round_trips_exactly(case, rnd):
    """The whole case (funding with decisions, encounters, referrals with history included)
    comes back exactly, whatever order its resources arrive in."""
    resources = case_to_fhir(case)
    for r in resources:
        parse_resource(r)
    assert case_from_fhir(resources) == case
    assert case_from_fhir({"resourceType": "Bundle", "type": "collection",
                           "entry": [{"resource": r} for r in reversed(resources)]}) == case
    shuffled = list(resources)
    rnd.shuffle(shuffled)
    assert case_from_fhir(shuffled) == case


def _case_with_parts() -> c.Case:
    case = c.Case(id="case-x", patient=c.Patient(name=c.HumanName("Doe")),
                  model=c.CaseModel.CLINICAL, setting=c.Setting.HOSPITAL)
    case.plan.activities = [c.Activity("home IV", id="act-1")]
    case.referrals = [c.Referral(service=c.Code("http://snomed.info/sct", str(n)), agency=None,
                                 id=f"ref-{n}", activity="act-1") for n in (3, 1, 2)]
    case.encounters = [c.Encounter(kind=c.EncounterKind.HOME_VISIT, id=f"enc-{n}",
                                   referral=f"ref-{n}") for n in (2, 3, 1)]
    return case


def test_encounters_and_referrals_carry_their_rank():
    case = _case_with_parts()
    resources = case_to_fhir(case)
    rank = "https://fhir-case-hub.org/fhir/StructureDefinition/case-rank"
    ranks = [(r["resourceType"], e["valuePositiveInt"]) for r in resources
             for e in r.get("extension") or [] if e["url"] == rank]
    assert ranks == [("Encounter", 1), ("Encounter", 2), ("Encounter", 3),
                     ("ServiceRequest", 1), ("ServiceRequest", 2), ("ServiceRequest", 3)]
    back = case_from_fhir(list(reversed(resources)))
    assert [e.id for e in back.encounters] == ["enc-2", "enc-3", "enc-1"]
    assert [r.id for r in back.referrals] == ["ref-3", "ref-1", "ref-2"]


def test_unranked_encounters_and_referrals_follow_in_arrival_order():
    """A partner's Encounter (no hub rank) goes after the case's own, in the order given."""
    case = _case_with_parts()
    resources = case_to_fhir(case)
    first_enc = next(r for r in resources if r["resourceType"] == "Encounter")  # enc-2
    first_sr = next(r for r in resources if r["resourceType"] == "ServiceRequest")  # ref-3
    for r in (first_enc, first_sr):
        r["extension"] = [e for e in r["extension"] if not e["url"].endswith("/case-rank")]
        if not r["extension"]:
            del r["extension"]
    back = case_from_fhir(list(reversed(resources)))
    assert [e.id for e in back.encounters] == ["enc-3", "enc-1", "enc-2"]
    assert [r.id for r in back.referrals] == ["ref-1", "ref-2", "ref-3"]


def test_generated_cases_pass_the_independent_validator(tmp_path):
    """Every resource of generated whole cases (Coverage, payer Organization, Encounter,
    ServiceRequest, Task included) passes the independent R4 validator, in one batch."""
    collected: list[dict] = []

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(case_records())
    def collect(case):
        collected.extend(case_to_fhir(case))

    collect()
    types = {r["resourceType"] for r in collected}
    assert {"Coverage", "Organization", "Encounter", "ServiceRequest", "Task"} <= types
    assert_valid(collected, tmp_path)
