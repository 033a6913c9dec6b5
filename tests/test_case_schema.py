"""The case schemas: input validation with dotted error paths, and the exact round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from case_data import minimal, river
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from hub import cases as c
from hub.errors import validation_failed
from hub.schemas import (
    READ_ONLY_MESSAGE,
    CaseSchema,
    TransitionRequestSchema,
    case_input_schema,
)


def errors_of(body: dict, schema=None) -> dict:
    """The dotted-path errors of loading ``body``."""
    with pytest.raises(ValidationError) as err:
        (schema or case_input_schema()).load(body)
    return validation_failed(err.value.messages).to_problem()["errors"]


# --- the River fixture ----------------------------------------------------------------------


def test_river_loads_into_the_case_record():
    case = case_input_schema().load(river())
    assert isinstance(case, c.Case)
    assert (case.model, case.setting) == (c.CaseModel.CLINICAL, c.Setting.HOSPITAL)
    codes = {cond.code.code for cond in case.assessment.conditions}
    assert {"127295002", "71620000"} <= codes
    physio = next(a for a in case.plan.activities if a.id == "physio")
    assert physio.frequency == c.Frequency(3, 1, c.PeriodUnit.WEEK)
    roles = {m.role.code for m in case.care_team}
    assert {"768832004", "56397003", "36682004", "106328005"} <= roles
    assert case.funding_in_order()[0].kind == c.FundingKind.INSURANCE
    assert case.status == c.CaseStatus.INTAKE


def test_river_round_trips_through_storage_format():
    case = case_input_schema().load(river())
    assert CaseSchema().load(CaseSchema().dump(case)) == case


# --- validation errors ------------------------------------------------------------------------


def test_missing_required_fields():
    errs = errors_of({})
    assert set(errs) == {"patient", "model", "setting"}
    assert errs["patient"] == ["Missing data for required field."]


def test_nested_required_and_wrong_enum_and_type():
    body = minimal(model="hybrid", program=12)
    body["patient"] = {"name": {"given": ["X"]}, "gender": "robot", "birth_date": "1990-02-30"}
    errs = errors_of(body)
    assert "Missing data" in errs["patient.name.family"][0]
    assert errs["model"][0].startswith("Must be one of")
    assert errs["patient.gender"][0].startswith("Must be one of")
    assert errs["patient.birth_date"] == ["Not a valid date."]
    assert errs["program"] == ["Not a valid string."]


def test_list_item_errors_carry_their_index():
    body = river()
    body["plan"]["goals"][1]["target_date"] = "soon"
    body["plan"]["activities"][0]["frequency"]["count"] = 0
    body["care_team"][2]["role"] = {"system": "http://snomed.info/sct"}
    errs = errors_of(body)
    assert errs["plan.goals.1.target_date"] == ["Not a valid date."]
    assert "plan.activities.0.frequency.count" in errs
    assert "plan.care_team" not in errs and "care_team.2.role.code" in errs


def test_blank_and_unknown_fields():
    body = minimal(colour="blue")
    body["patient"]["name"]["family"] = "  "
    errs = errors_of(body)
    assert errs["patient.name.family"] == ["Must not be blank."]
    assert errs["colour"] == ["Unknown field."]


def test_datetimes_need_a_timezone():
    body = river()
    body["encounters"][0]["start"] = "2026-10-28T17:40:00"
    assert "encounters.0.start" in errors_of(body)


def test_period_start_before_end():
    body = river()
    body["plan"]["period"] = {"start": "2027-01-01", "end": "2026-01-01"}
    body["encounters"][0]["end"] = "2026-10-01T00:00:00+00:00"
    errs = errors_of(body)
    assert errs["plan.period.end"] == ["Must not be before the start."]
    assert errs["encounters.0.end"] == ["Must not be before the start."]


def test_references_must_exist():
    body = river()
    body["plan"]["goals"][0]["addresses"] = ["fx-skull"]
    body["plan"]["activities"][0]["goals"] = ["swim"]
    body["plan"]["activities"][1]["performer"] = "dr-nobody"
    body["referrals"] = [{"id": "r1", "service": {"system": "s", "code": "c"},
                          "activity": "dance"}]
    body["encounters"][0]["referral"] = "r9"
    errs = errors_of(body)
    assert errs["plan.goals.0.addresses"] == ["No condition 'fx-skull' in the assessment."]
    assert errs["plan.activities.0.goals"] == ["No goal 'swim' in the plan."]
    assert errs["plan.activities.1.performer"] == ["No care-team member 'dr-nobody'."]
    assert errs["referrals.0.activity"] == ["No activity 'dance'."]
    assert errs["encounters.0.referral"] == ["No referral 'r9'."]


def test_duplicate_ids():
    body = river()
    body["plan"]["goals"][1]["id"] = "walk"
    body["care_team"][1]["id"] = "cm"
    errs = errors_of(body)
    assert errs["plan.goals.1.id"] == ["Duplicate id 'walk'."]
    assert errs["care_team.1.id"] == ["Duplicate id 'cm'."]


def test_insurance_needs_member_id_self_pay_does_not():
    body = river()
    del body["funding"][0]["member_id"]
    assert errors_of(body) == {"funding.0.member_id": ["Insurance needs the member id."]}
    assert "member_id" not in river()["funding"][1]  # self-pay loads without one
    case_input_schema().load(river())


def test_field_and_cross_field_errors_together():
    body = river()
    body["model"] = "nope"
    body["plan"]["activities"][0]["performer"] = "ghost"
    body["funding"][0]["member_id"] = None
    errs = errors_of(body)
    assert set(errs) == {"model", "plan.activities.0.performer", "funding.0.member_id"}


@pytest.mark.parametrize("field", ["id", "version", "status", "status_history", "opened_at",
                                   "closed_at", "reviews", "notes"])
def test_server_owned_fields_are_read_only_on_input(field):
    body = minimal(**{field: None})
    assert errors_of(body) == {field: [READ_ONLY_MESSAGE]}


def test_nested_server_owned_fields_are_read_only():
    body = minimal(plan={"status": "active", "approved_by": {"name": "Dr X"}})
    errs = errors_of(body)
    assert errs == {"plan.status": [READ_ONLY_MESSAGE], "plan.approved_by": [READ_ONLY_MESSAGE]}


def test_storage_schema_accepts_server_fields():
    case = CaseSchema().load(minimal(id="case-1", version=4, status="active"))
    assert (case.id, case.version, case.status) == ("case-1", 4, c.CaseStatus.ACTIVE)


def test_transition_request():
    assert TransitionRequestSchema().load({"to": "assessment"}) == {"to": c.CaseStatus.ASSESSMENT}
    with pytest.raises(ValidationError) as err:
        TransitionRequestSchema().load({"to": "paused", "why": 1})
    assert set(err.value.messages) == {"to", "why"}


# --- the round trip: load(dump(case)) == case ------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
               max_size=12).filter(lambda s: s.strip())
opt_text = st.none() | text
ids = st.from_regex(r"[A-Za-z0-9\-.]{1,16}", fullmatch=True)
dates = st.dates(date(1900, 1, 1), date(2100, 12, 31))
aware = st.datetimes(datetime(1900, 1, 2), datetime(2100, 12, 30),
                     timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)),
                                                timezone(timedelta(hours=-8))]))
opt = st.none


def enum(e):
    return st.sampled_from(list(e))


@st.composite
def periods(draw):
    start, end = draw(opt() | dates), draw(opt() | dates)
    if start and end and end < start:
        start, end = end, start
    return c.Period(start=start, end=end)


codes = st.builds(c.Code, system=text, code=text, display=opt_text)
identifiers = st.builds(c.Identifier, system=text, value=text, kind=enum(c.IdentifierKind))
parties = st.builds(c.Party, name=text, identifier=opt() | identifiers, reference=opt_text)
addresses = st.builds(c.Address, lines=st.lists(st.text(max_size=8), max_size=2), city=opt_text,
                      state=opt_text, postal_code=opt_text, country=opt_text)
emails = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.org", fullmatch=True)
contacts = st.builds(c.Contact, phone=opt_text, email=opt() | emails,
                     address=opt() | addresses)
patients = st.builds(c.Patient, name=st.builds(c.HumanName, family=text,
                                               given=st.lists(text, max_size=2)),
                     birth_date=opt() | dates, gender=enum(c.Gender),
                     identifiers=st.lists(identifiers, max_size=2), contact=opt() | contacts)
conditions = st.builds(c.Condition, code=codes, id=ids, category=enum(c.ConditionCategory),
                       clinical_status=enum(c.ConditionStatus), onset=opt() | dates,
                       note=opt_text)
members = st.builds(c.CareTeamMember, name=text, role=codes, id=ids, kind=enum(c.MemberKind),
                    identifier=opt() | identifiers, on_behalf_of=opt() | parties,
                    period=opt() | periods(), contact=opt() | contacts)
decisions = st.builds(c.CoverageDecision, service=codes, status=enum(c.DecisionStatus), id=ids,
                      authorization_number=opt_text, period=opt() | periods(),
                      decided_at=opt() | aware, quantity=opt() | st.integers(0, 10**6),
                      note=opt_text)
status_changes = st.builds(c.StatusChange, status=text, at=aware, reason=opt_text, by=opt_text)


def unique(items):
    return st.lists(items, max_size=3, unique_by=lambda x: x.id)


def refs(pool):
    return st.lists(st.sampled_from(pool), max_size=2, unique=True) if pool else st.just([])


def maybe(pool):
    return st.none() | st.sampled_from(pool) if pool else st.none()


@st.composite
def funding_sources(draw):
    kind = draw(enum(c.FundingKind))
    member = draw(text if kind == c.FundingKind.INSURANCE else opt_text)
    return c.FundingSource(kind=kind, payer=draw(parties), id=draw(ids),
                           status=draw(enum(c.FundingStatus)), plan=draw(opt_text),
                           member_id=member, group=draw(opt_text),
                           relationship=draw(enum(c.SubscriberRelationship)),
                           period=draw(opt() | periods()),
                           decisions=draw(unique(decisions)))


@st.composite
def encounter_times(draw):
    start, end = draw(opt() | aware), draw(opt() | aware)
    if start and end and end < start:
        start, end = end, start
    return start, end


@st.composite
def case_records(draw):
    """A random, internally consistent Case (references point at existing parts)."""
    assessment = draw(opt() | st.builds(
        c.Assessment, assessed_on=opt() | dates, assessor=opt() | parties,
        conditions=unique(conditions), needs=st.lists(text, max_size=2),
        strengths=st.lists(text, max_size=2), summary=opt_text))
    cond_ids = [x.id for x in assessment.conditions] if assessment else []
    team = draw(unique(members))
    goals = draw(unique(st.builds(
        c.Goal, description=text, id=ids, lifecycle_status=enum(c.GoalLifecycle),
        achievement_status=opt() | enum(c.GoalAchievement), target_date=opt() | dates,
        addresses=refs(cond_ids))))
    goal_ids, member_ids = [g.id for g in goals], [m.id for m in team]
    activities = draw(unique(st.builds(
        c.Activity, description=text, id=ids, kind=enum(c.ActivityKind), code=opt() | codes,
        status=enum(c.ActivityStatus), performer=maybe(member_ids),
        frequency=opt() | st.builds(c.Frequency, count=st.integers(1, 50),
                                    period=st.integers(1, 12), unit=enum(c.PeriodUnit)),
        period=opt() | periods(), goals=refs(goal_ids), progress=st.lists(text, max_size=2))))
    plan = draw(st.builds(c.Plan, status=enum(c.PlanStatus), period=opt() | periods(),
                          approved_by=opt() | parties, approved_at=opt() | aware,
                          goals=st.just(goals), activities=st.just(activities),
                          revised_at=opt() | aware))
    activity_ids = [a.id for a in activities]
    referrals = draw(unique(st.builds(
        c.Referral, service=codes, agency=opt() | parties, id=ids,
        status=enum(c.ReferralStatus), description=opt_text, reason=opt_text,
        status_reason=opt_text, business_status=opt_text, activity=maybe(activity_ids),
        period=opt() | periods(), requested_at=opt() | aware,
        history=st.lists(status_changes, max_size=2))))
    referral_ids = [r.id for r in referrals]
    encounters = []
    for eid in draw(st.lists(ids, max_size=3, unique=True)):
        start, end = draw(encounter_times())
        encounters.append(c.Encounter(
            kind=draw(enum(c.EncounterKind)), id=eid, status=draw(enum(c.EncounterStatus)),
            start=start, end=end, facility=draw(opt() | parties), reason=draw(opt_text),
            discharge_disposition=draw(opt() | enum(c.DischargeDisposition)),
            referral=draw(maybe(referral_ids))))
    reviews = draw(unique(st.builds(
        c.Review, due=dates, id=ids, done_at=opt() | aware, mode=enum(c.ReviewMode),
        outcome=opt() | enum(c.ReviewOutcome), reviewer=opt_text, notes=opt_text,
        goal_updates=st.dictionaries(st.sampled_from(goal_ids), enum(c.GoalAchievement),
                                     max_size=2) if goal_ids else st.just({}))))
    notes = draw(unique(st.builds(c.Note, text=text, at=aware, author=opt_text, id=ids)))
    return draw(st.builds(
        c.Case, patient=patients, model=enum(c.CaseModel), setting=enum(c.Setting), id=ids,
        version=st.integers(1, 10**6), status=enum(c.CaseStatus), program=opt_text,
        case_manager=opt() | parties, opened_at=aware, closed_at=opt() | aware,
        review_interval_days=opt() | st.integers(1, 366), assessment=st.just(assessment),
        plan=st.just(plan), care_team=st.just(team), funding=unique(funding_sources()),
        encounters=st.just(encounters), referrals=st.just(referrals),
        reviews=st.just(reviews), notes=st.just(notes),
        status_history=st.lists(status_changes, max_size=3)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case_records())
def test_dump_load_round_trips_exactly(case):
    schema = CaseSchema()
    dumped = schema.dump(case)
    assert schema.load(dumped) == case
    assert schema.dump(schema.load(dumped)) == dumped
