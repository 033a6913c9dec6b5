"""Lifecycle rules of hub.cases: transitions, plan approval, cancelling, reviews, due dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.cases import (
    CASE_TRANSITIONS,
    Activity,
    ActivityStatus,
    Actor,
    Assessment,
    Case,
    CaseModel,
    CaseRuleError,
    CaseStatus,
    Code,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    HumanName,
    Party,
    Patient,
    Plan,
    PlanStatus,
    Referral,
    ReferralStatus,
    Review,
    ReviewOutcome,
    Setting,
)

OPENED = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
S = CaseStatus


def ready_case(model: CaseModel = CaseModel.CLINICAL) -> Case:
    """A case meeting every prerequisite (manager, assessment, approved plan with a goal)."""
    case = Case(patient=Patient(name=HumanName("Test")), model=model, setting=Setting.HOSPITAL,
                opened_at=OPENED, case_manager=Party("Alex Morgan"),
                assessment=Assessment(needs=["mobility"]),
                plan=Plan(goals=[Goal("walk", id="g1")]))
    case.approve_plan(Party("Dr Vale"), at=OPENED)
    return case


#: A path of allowed moves from intake to each status.
PATHS = {
    S.INTAKE: [],
    S.ASSESSMENT: [S.ASSESSMENT],
    S.PLANNING: [S.ASSESSMENT, S.PLANNING],
    S.ACTIVE: [S.ASSESSMENT, S.PLANNING, S.ACTIVE],
    S.ON_HOLD: [S.ASSESSMENT, S.PLANNING, S.ACTIVE, S.ON_HOLD],
    S.TRANSITION: [S.ASSESSMENT, S.PLANNING, S.ACTIVE, S.TRANSITION],
    S.CLOSED: [S.ASSESSMENT, S.PLANNING, S.ACTIVE, S.TRANSITION, S.CLOSED],
    S.CANCELLED: [S.CANCELLED],
}


def case_in(status: CaseStatus) -> Case:
    case = ready_case()
    for step in PATHS[status]:
        case.transition(step, reason="because")
    assert case.status == status
    return case


ALL_MOVES = [(a, b) for a in S for b in S]


@pytest.mark.parametrize(("start", "target"), ALL_MOVES, ids=[f"{a}->{b}" for a, b in ALL_MOVES])
def test_every_move_is_allowed_or_refused_as_the_table_says(start, target):
    case = case_in(start)
    history = len(case.status_history)
    if target in CASE_TRANSITIONS[start]:
        case.transition(target, reason="because", by="client-1")
        assert case.status == target
        assert case.status_history[-1].status == target.value
        assert case.status_history[-1].by == "client-1"
        assert len(case.status_history) == history + 1
    else:
        with pytest.raises(CaseRuleError) as err:
            case.transition(target, reason="because")
        assert err.value.field == "status"
        assert case.status == start and len(case.status_history) == history


def test_the_table_itself():
    assert CASE_TRANSITIONS[S.INTAKE] == {S.ASSESSMENT, S.CANCELLED}
    assert CASE_TRANSITIONS[S.ACTIVE] == {S.ON_HOLD, S.TRANSITION, S.CANCELLED}
    assert CASE_TRANSITIONS[S.TRANSITION] == {S.CLOSED, S.ACTIVE, S.CANCELLED}
    assert CASE_TRANSITIONS[S.CLOSED] == CASE_TRANSITIONS[S.CANCELLED] == frozenset()


def test_unknown_status_is_refused():
    with pytest.raises(CaseRuleError, match="unknown case status"):
        ready_case().transition("reopened")


def test_assessment_needs_a_case_manager():
    case = ready_case()
    case.case_manager = None
    with pytest.raises(CaseRuleError) as err:
        case.transition(S.ASSESSMENT)
    assert err.value.field == "case_manager" and case.status == S.INTAKE


def test_planning_needs_the_assessment():
    case = case_in(S.ASSESSMENT)
    case.assessment = None
    with pytest.raises(CaseRuleError) as err:
        case.transition(S.PLANNING)
    assert err.value.field == "assessment"


def test_activation_needs_an_approved_plan():
    case = case_in(S.PLANNING)
    case.plan.approved_by = case.plan.approved_at = None
    with pytest.raises(CaseRuleError) as err:
        case.transition(S.ACTIVE)
    assert err.value.field == "plan.approved_by" and case.status == S.PLANNING
    case.approve_plan(Party("Dr Vale"))
    case.transition(S.ACTIVE)
    assert case.status == S.ACTIVE and case.plan.status == PlanStatus.ACTIVE


def test_activation_needs_a_goal():
    case = case_in(S.PLANNING)
    case.plan.goals = []
    with pytest.raises(CaseRuleError) as err:
        case.transition(S.ACTIVE)
    assert err.value.field == "plan.goals"


def test_approval_needs_goals_and_an_open_case():
    case = case_in(S.PLANNING)
    case.plan.goals = []
    with pytest.raises(CaseRuleError) as err:
        case.approve_plan(Party("Dr Vale"))
    assert err.value.field == "plan.goals"
    closed = case_in(S.CLOSED)
    with pytest.raises(CaseRuleError) as err:
        closed.approve_plan(Party("Dr Vale"))
    assert err.value.field == "status"


def test_a_revised_plan_needs_approval_again_before_resuming():
    case = case_in(S.ON_HOLD)
    assert case.plan.status == PlanStatus.ON_HOLD
    case.revise_plan(Plan(goals=[Goal("walk 1 km", id="g2")]))
    assert not case.plan.approved and case.plan.revised_at is not None
    assert case.plan.status == PlanStatus.ON_HOLD  # carried over, not back to draft
    with pytest.raises(CaseRuleError) as err:
        case.transition(S.ACTIVE)
    assert err.value.field == "plan.approved_by"
    case.approve_plan(Party("Dr Vale"))
    case.transition(S.ACTIVE)
    assert case.plan.status == PlanStatus.ACTIVE


def test_revising_clears_an_approval_carried_by_the_new_plan():
    case = case_in(S.PLANNING)
    case.revise_plan(Plan(goals=[Goal("x")], approved_by=Party("Dr X"), approved_at=OPENED))
    assert not case.plan.approved and case.plan.status == PlanStatus.DRAFT


def test_closed_case_plan_cannot_be_revised():
    with pytest.raises(CaseRuleError):
        case_in(S.CANCELLED).revise_plan(Plan())


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_cancelling_needs_a_reason(reason):
    case = case_in(S.ACTIVE)
    with pytest.raises(CaseRuleError) as err:
        case.transition(S.CANCELLED, reason=reason)
    assert err.value.field == "reason" and case.status == S.ACTIVE


def test_cancelling_revokes_the_plan_and_closes_the_case():
    case = case_in(S.ACTIVE)
    case.transition(S.CANCELLED, reason="moved abroad")
    assert case.plan.status == PlanStatus.REVOKED
    assert case.closed_at is not None and not case.is_open
    assert case.status_history[-1].reason == "moved abroad"


def test_plan_status_follows_the_case():
    case = case_in(S.ACTIVE)
    case.transition(S.ON_HOLD)
    assert case.plan.status == PlanStatus.ON_HOLD
    case.transition(S.ACTIVE)
    assert case.plan.status == PlanStatus.ACTIVE
    case.transition(S.TRANSITION)
    case.transition(S.CLOSED)
    assert case.plan.status == PlanStatus.COMPLETED and case.closed_at is not None


@pytest.mark.parametrize(("model", "days"), [(CaseModel.INTENSIVE, 7), (CaseModel.CLINICAL, 14),
                                             (CaseModel.STRENGTHS_BASED, 30),
                                             (CaseModel.BROKERAGE, 90)])
def test_next_review_due_follows_the_model(model, days):
    case = ready_case(model)
    assert case.next_review_due == (OPENED + timedelta(days=days)).date()


def test_explicit_interval_overrides_the_model():
    case = ready_case(CaseModel.BROKERAGE)
    case.review_interval_days = 3
    assert case.next_review_due == date(2026, 1, 4)


def test_next_review_counts_from_the_last_review_done_but_not_a_missed_one():
    case = case_in(S.ACTIVE)
    case.record_review(Review(due=date(2026, 1, 15), done_at=OPENED + timedelta(days=10)))
    assert case.next_review_due == date(2026, 1, 25)
    case.record_review(Review(due=date(2026, 1, 25), done_at=OPENED + timedelta(days=24),
                              outcome=ReviewOutcome.MISSED))
    assert case.next_review_due == date(2026, 1, 25)


def test_overdue_and_closed_cases():
    case = case_in(S.ACTIVE)
    due = case.next_review_due
    assert not case.is_review_overdue(due)
    assert case.is_review_overdue(due + timedelta(days=1))
    closed = case_in(S.CLOSED)
    assert closed.next_review_due is None and not closed.is_review_overdue(date(2100, 1, 1))


def test_review_updates_goals():
    case = case_in(S.ACTIVE)
    case.record_review(Review(due=date(2026, 1, 15),
                              goal_updates={"g1": GoalAchievement.ACHIEVED}))
    goal = case.plan.goals[0]
    assert goal.achievement_status == GoalAchievement.ACHIEVED
    assert goal.lifecycle_status == GoalLifecycle.COMPLETED
    assert case.reviews[-1].done_at is not None


def test_review_with_unknown_goal_changes_nothing():
    case = case_in(S.ACTIVE)
    review = Review(due=date(2026, 1, 15), goal_updates={"nope": GoalAchievement.IMPROVING})
    with pytest.raises(CaseRuleError) as err:
        case.record_review(review)
    assert err.value.field == "goal_updates"
    assert case.reviews == [] and review.done_at is None


@pytest.mark.parametrize("status", [S.INTAKE, S.ASSESSMENT, S.PLANNING, S.CLOSED, S.CANCELLED])
def test_reviews_only_on_running_cases(status):
    with pytest.raises(CaseRuleError) as err:
        case_in(status).record_review(Review(due=date(2026, 1, 15)))
    assert err.value.field == "status"


@pytest.mark.parametrize("status", [S.ACTIVE, S.ON_HOLD, S.TRANSITION])
def test_reviews_on_running_cases(status):
    case = case_in(status)
    case.record_review(Review(due=date(2026, 1, 15)))
    assert len(case.reviews) == 1


def test_review_recording_progress_makes_proposed_goals_active():
    case = case_in(S.ACTIVE)
    case.plan.goals.append(Goal("cook", id="g2", lifecycle_status=GoalLifecycle.ON_HOLD))
    case.record_review(Review(due=date(2026, 1, 15),
                              goal_updates={"g1": GoalAchievement.IMPROVING,
                                            "g2": GoalAchievement.NO_PROGRESS}))
    walk, cook = case.plan.goals
    assert (walk.lifecycle_status, walk.achievement_status) == (GoalLifecycle.ACTIVE,
                                                                GoalAchievement.IMPROVING)
    assert cook.lifecycle_status == GoalLifecycle.ON_HOLD  # a held goal stays held
    case.record_review(Review(due=date(2026, 2, 15),
                              goal_updates={"g1": GoalAchievement.ACHIEVED}))
    assert walk.lifecycle_status == GoalLifecycle.COMPLETED


def test_a_cancelled_goal_is_not_reopened_by_a_review():
    case = case_in(S.ACTIVE)
    case.plan.goals[0].lifecycle_status = GoalLifecycle.CANCELLED
    case.record_review(Review(due=date(2026, 1, 15),
                              goal_updates={"g1": GoalAchievement.ACHIEVED}))
    assert case.plan.goals[0].lifecycle_status == GoalLifecycle.CANCELLED


def test_plan_activity_follows_its_referral():
    case = case_in(S.ACTIVE)
    case.plan.activities = [Activity("home health", id="a1"), Activity("meals", id="a2")]
    service = Code("http://snomed.info/sct", "385763009")
    hh = Referral(service, Party("Sunrise"), id="r1", status=ReferralStatus.ACCEPTED,
                  activity="a1")
    meals = Referral(service, Party("Meals"), id="r2", status=ReferralStatus.REQUESTED,
                     activity="a2")
    case.referrals = [hh, meals]
    case.follow_referrals()
    assert [a.status for a in case.plan.activities] == [ActivityStatus.NOT_STARTED] * 2
    hh.move(ReferralStatus.IN_PROGRESS, Actor.OWNER)
    case.follow_referrals()
    assert case.plan.activities[0].status == ActivityStatus.IN_PROGRESS
    hh.move(ReferralStatus.COMPLETED, Actor.OWNER)
    case.follow_referrals()
    assert [a.status for a in case.plan.activities] == [ActivityStatus.COMPLETED,
                                                        ActivityStatus.NOT_STARTED]
