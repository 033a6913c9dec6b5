"""The case record: a patient under case management, and the rules of its lifecycle.

Plain dataclasses; the enums and transition tables live in ``hub.case_terms`` and are
re-exported here. Nothing of Flask, SQL or FHIR is imported: it is the business truth that the API, the
store and the mappings all serve.
Terminology (SNOMED roles, v3 codes) is carried as ``Code`` values; which codes mean what
to FHIR partners is decided in ``hub.mappings.codes``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from hub import clock
from hub.case_terms import (  # the record's vocabulary, re-exported (see __all__)
    CASE_TRANSITIONS,
    FINAL_CASE_STATUSES,
    FINAL_REFERRAL_STATUSES,
    REFERRAL_REASON_REQUIRED,
    REFERRAL_TRANSITIONS,
    REVIEW_INTERVAL_DAYS,
    ActivityKind,
    ActivityStatus,
    Actor,
    CaseModel,
    CaseStatus,
    ConditionCategory,
    ConditionStatus,
    DecisionStatus,
    DischargeDisposition,
    EncounterKind,
    EncounterStatus,
    FundingKind,
    FundingStatus,
    Gender,
    GoalAchievement,
    GoalLifecycle,
    IdentifierKind,
    MemberKind,
    PeriodUnit,
    PlanStatus,
    ReferralStatus,
    ReviewMode,
    ReviewOutcome,
    Setting,
    SubscriberRelationship,
)

__all__ = [
    "CASE_TRANSITIONS",
    "FINAL_CASE_STATUSES",
    "FINAL_REFERRAL_STATUSES",
    "REFERRAL_REASON_REQUIRED",
    "REFERRAL_TRANSITIONS",
    "REVIEW_INTERVAL_DAYS",
    "Activity",
    "ActivityKind",
    "ActivityStatus",
    "Actor",
    "Address",
    "Assessment",
    "CareTeamMember",
    "Case",
    "CaseModel",
    "CaseRuleError",
    "CaseStatus",
    "Code",
    "Condition",
    "ConditionCategory",
    "ConditionStatus",
    "Contact",
    "CoverageDecision",
    "DecisionStatus",
    "DischargeDisposition",
    "Encounter",
    "EncounterKind",
    "EncounterStatus",
    "Frequency",
    "FundingKind",
    "FundingSource",
    "FundingStatus",
    "Gender",
    "Goal",
    "GoalAchievement",
    "GoalLifecycle",
    "HumanName",
    "Identifier",
    "IdentifierKind",
    "MemberKind",
    "Note",
    "Party",
    "Patient",
    "Period",
    "PeriodUnit",
    "Plan",
    "PlanStatus",
    "Referral",
    "ReferralStatus",
    "Review",
    "ReviewMode",
    "ReviewOutcome",
    "Setting",
    "StatusChange",
    "SubscriberRelationship",
    "new_id",
    "utcnow",
]


class CaseRuleError(ValueError):
    """A change the case lifecycle does not allow. ``field`` names the offending part."""

    def __init__(self, message: str, field: str = "status") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def new_id() -> str:
    """A fresh identifier for a case or one of its parts."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The case record's now: ``hub.clock``'s, to the second."""
    return clock.utcnow().replace(microsecond=0)


# --- value objects -----------------------------------------------------------------------


@dataclass
class Code:
    """A coded concept: system URI, code and an optional display."""

    system: str
    code: str
    display: str | None = None


@dataclass
class Identifier:
    system: str
    value: str
    kind: IdentifierKind = IdentifierKind.OTHER


@dataclass
class HumanName:
    family: str
    given: list[str] = field(default_factory=list)


@dataclass
class Address:
    lines: list[str] = field(default_factory=list)
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass
class Contact:
    phone: str | None = None
    email: str | None = None
    address: Address | None = None


@dataclass
class Period:
    start: date | None = None
    end: date | None = None


@dataclass
class Party:
    """A person or organization the case refers to (case manager, payer, agency, ...)."""

    name: str
    identifier: Identifier | None = None
    reference: str | None = None  # e.g. "Organization/st-marys" once known to FHIR


# --- the parts of a case -----------------------------------------------------------------


@dataclass
class Patient:
    name: HumanName
    birth_date: date | None = None
    gender: Gender = Gender.UNKNOWN
    identifiers: list[Identifier] = field(default_factory=list)
    contact: Contact | None = None


@dataclass
class Condition:
    code: Code
    id: str = field(default_factory=new_id)
    category: ConditionCategory = ConditionCategory.PROBLEM_LIST_ITEM
    clinical_status: ConditionStatus = ConditionStatus.ACTIVE
    onset: date | None = None
    note: str | None = None


@dataclass
class Assessment:
    assessed_on: date | None = None
    assessor: Party | None = None
    conditions: list[Condition] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)
    strengths: list[str] = field(default_factory=list)
    summary: str | None = None


@dataclass
class Goal:
    description: str
    id: str = field(default_factory=new_id)
    lifecycle_status: GoalLifecycle = GoalLifecycle.PROPOSED
    achievement_status: GoalAchievement | None = None
    target_date: date | None = None
    addresses: list[str] = field(default_factory=list)  # Condition ids


@dataclass
class Frequency:
    """``count`` times per ``period`` ``unit``, e.g. 3 per 1 wk."""

    count: int
    period: int = 1
    unit: PeriodUnit = PeriodUnit.WEEK


@dataclass
class Activity:
    description: str
    id: str = field(default_factory=new_id)
    kind: ActivityKind = ActivityKind.SERVICE_REQUEST
    code: Code | None = None
    status: ActivityStatus = ActivityStatus.NOT_STARTED
    performer: str | None = None  # CareTeamMember id
    frequency: Frequency | None = None
    period: Period | None = None  # when it runs, e.g. 3 weeks of home IV antibiotics
    goals: list[str] = field(default_factory=list)  # Goal ids
    progress: list[str] = field(default_factory=list)


@dataclass
class Plan:
    status: PlanStatus = PlanStatus.DRAFT
    period: Period | None = None
    approved_by: Party | None = None
    approved_at: datetime | None = None
    goals: list[Goal] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    revised_at: datetime | None = None

    @property
    def approved(self) -> bool:
        return self.approved_by is not None and self.approved_at is not None


@dataclass
class CareTeamMember:
    name: str
    role: Code
    id: str = field(default_factory=new_id)
    kind: MemberKind = MemberKind.PRACTITIONER
    identifier: Identifier | None = None
    on_behalf_of: Party | None = None
    period: Period | None = None
    contact: Contact | None = None


@dataclass
class CoverageDecision:
    service: Code
    status: DecisionStatus
    id: str = field(default_factory=new_id)
    authorization_number: str | None = None
    period: Period | None = None
    decided_at: datetime | None = None
    quantity: int | None = None  # e.g. units/visits authorized
    note: str | None = None


@dataclass
class FundingSource:
    kind: FundingKind
    payer: Party
    id: str = field(default_factory=new_id)
    status: FundingStatus = FundingStatus.ACTIVE
    plan: str | None = None
    member_id: str | None = None
    group: str | None = None
    relationship: SubscriberRelationship = SubscriberRelationship.SELF
    period: Period | None = None
    decisions: list[CoverageDecision] = field(default_factory=list)


@dataclass
class Encounter:
    kind: EncounterKind
    id: str = field(default_factory=new_id)
    status: EncounterStatus = EncounterStatus.PLANNED
    start: datetime | None = None
    end: datetime | None = None
    facility: Party | None = None
    reason: str | None = None
    discharge_disposition: DischargeDisposition | None = None
    referral: str | None = None  # Referral id this visit fulfils


@dataclass
class StatusChange:
    status: str
    at: datetime
    reason: str | None = None
    by: str | None = None


@dataclass
class Referral:
    service: Code
    agency: Party | None  # None: an open referral any agency may claim
    id: str = field(default_factory=new_id)
    status: ReferralStatus = ReferralStatus.DRAFT
    description: str | None = None
    reason: str | None = None  # why the service is needed
    status_reason: str | None = None  # why it was rejected, cancelled, put on hold, failed
    business_status: str | None = None
    activity: str | None = None  # Activity id this referral carries out
    period: Period | None = None  # service window
    requested_at: datetime | None = None
    history: list[StatusChange] = field(default_factory=list)
    # the agencies an open referral is offered to (only they see and may claim it);
    # empty: every agency
    offered_to: list[Party] = field(default_factory=list)

    def move(self, to: ReferralStatus, actor: Actor, reason: str | None = None,
             at: datetime | None = None) -> None:
        """Move the referral to ``to`` as ``actor``, or raise CaseRuleError."""
        to = ReferralStatus(to)
        if to == self.status:
            return
        allowed = REFERRAL_TRANSITIONS[Actor(actor)].get(self.status, frozenset())
        if to != ReferralStatus.ENTERED_IN_ERROR and to not in allowed:
            raise CaseRuleError(
                f"referral cannot move from {self.status} to {to} as {actor}", "status")
        if to in REFERRAL_REASON_REQUIRED and not (reason or "").strip():
            raise CaseRuleError(f"a referral moved to {to} needs a reason", "status_reason")
        when = at or utcnow()
        if to == ReferralStatus.REQUESTED and self.requested_at is None:
            self.requested_at = when
        self.status = to
        if reason:
            self.status_reason = reason
        self.history.append(StatusChange(status=to.value, at=when, reason=reason,
                                         by=Actor(actor).value))


@dataclass
class Review:
    due: date
    id: str = field(default_factory=new_id)
    done_at: datetime | None = None
    mode: ReviewMode = ReviewMode.PHONE
    outcome: ReviewOutcome | None = None
    reviewer: str | None = None
    notes: str | None = None
    goal_updates: dict[str, GoalAchievement] = field(default_factory=dict)  # Goal id -> status


@dataclass
class Note:
    text: str
    at: datetime = field(default_factory=utcnow)
    author: str | None = None
    id: str = field(default_factory=new_id)


# --- the case ----------------------------------------------------------------------------

#: Goal lifecycle states before work on the goal starts (DOMAIN.md: proposed ->
#: planned/accepted -> active); a review that records progress makes them active.
_GOAL_NOT_STARTED = frozenset({GoalLifecycle.PROPOSED, GoalLifecycle.PLANNED,
                               GoalLifecycle.ACCEPTED})
#: States from which an achieved goal is completed.
_GOAL_WORKED_ON = _GOAL_NOT_STARTED | {GoalLifecycle.ACTIVE, GoalLifecycle.ON_HOLD}
_ACTIVITY_FINAL = frozenset({ActivityStatus.COMPLETED, ActivityStatus.CANCELLED,
                             ActivityStatus.STOPPED, ActivityStatus.ENTERED_IN_ERROR})
_REFERRAL_OPEN = frozenset({ReferralStatus.REQUESTED, ReferralStatus.RECEIVED,
                            ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS,
                            ReferralStatus.ON_HOLD})


@dataclass
class Case:
    patient: Patient
    model: CaseModel
    setting: Setting
    id: str = field(default_factory=new_id)
    version: int = 1
    status: CaseStatus = CaseStatus.INTAKE
    program: str | None = None  # targeted program, e.g. "hiv", "chronic-mental-illness"
    case_manager: Party | None = None
    #: The organization that manages the case (the hospital of a discharge, the agency
    #: running the program): FHIR ``EpisodeOfCare.managingOrganization``.
    managing_organization: Party | None = None
    opened_at: datetime = field(default_factory=utcnow)
    closed_at: datetime | None = None
    review_interval_days: int | None = None  # None: follows the model
    assessment: Assessment | None = None
    plan: Plan = field(default_factory=Plan)
    care_team: list[CareTeamMember] = field(default_factory=list)
    funding: list[FundingSource] = field(default_factory=list)  # in priority order
    encounters: list[Encounter] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    status_history: list[StatusChange] = field(default_factory=list)
    #: The FHIR Patient id of the patient, set when the case is opened: the Patient that
    #: already carries the patient's MRN, else the case's own (None: cases opened before).
    patient_id: str | None = None

    # -- lifecycle --

    def transition(self, to: CaseStatus | str, reason: str | None = None,
                   by: str | None = None, at: datetime | None = None) -> None:
        """Move the case along its lifecycle, or raise CaseRuleError."""
        try:
            target = CaseStatus(to)
        except ValueError:
            raise CaseRuleError(f"unknown case status {to!r}") from None
        if target not in CASE_TRANSITIONS[self.status]:
            raise CaseRuleError(f"a case cannot move from {self.status} to {target}")
        if target == CaseStatus.ASSESSMENT and self.case_manager is None:
            raise CaseRuleError("assign a case manager before assessment", "case_manager")
        if target == CaseStatus.PLANNING and self.assessment is None:
            raise CaseRuleError("record the assessment before planning", "assessment")
        if target == CaseStatus.ACTIVE:  # from planning, and resuming after a revision
            if not self.plan.approved:
                raise CaseRuleError("the plan must be approved by a physician first",
                                    "plan.approved_by")
            if not self.plan.goals:
                raise CaseRuleError("the plan needs at least one goal", "plan.goals")
        if target == CaseStatus.CANCELLED and not (reason or "").strip():
            raise CaseRuleError("cancelling a case needs a reason", "reason")
        when = at or utcnow()
        self.status = target
        if target == CaseStatus.ACTIVE and self.plan.status in (PlanStatus.DRAFT,
                                                                PlanStatus.ON_HOLD):
            self.plan.status = PlanStatus.ACTIVE
        elif target == CaseStatus.ON_HOLD and self.plan.status == PlanStatus.ACTIVE:
            self.plan.status = PlanStatus.ON_HOLD
        elif target == CaseStatus.CLOSED and self.plan.status in (PlanStatus.ACTIVE,
                                                                  PlanStatus.ON_HOLD):
            self.plan.status = PlanStatus.COMPLETED
        elif target == CaseStatus.CANCELLED and self.plan.status != PlanStatus.DRAFT:
            self.plan.status = PlanStatus.REVOKED
        if target in FINAL_CASE_STATUSES:
            self.closed_at = when
        self.status_history.append(StatusChange(status=target.value, at=when,
                                                reason=reason, by=by))

    @property
    def is_open(self) -> bool:
        return self.status not in FINAL_CASE_STATUSES

    # -- plan --

    def approve_plan(self, physician: Party, at: datetime | None = None) -> None:
        """Record the physician's approval of the plan."""
        if not self.is_open:
            raise CaseRuleError(f"a {self.status} case cannot change its plan")
        if not self.plan.goals:
            raise CaseRuleError("the plan needs at least one goal", "plan.goals")
        self.plan.approved_by = physician
        self.plan.approved_at = at or utcnow()

    def set_plan_status(self, status: PlanStatus) -> None:
        """A partner's plan status (a hospital's CarePlan): a plan becomes active only
        after a physician approved it, as through the case API and ``/fhir``."""
        if status == self.plan.status:
            return
        if status == PlanStatus.ACTIVE and not self.plan.approved:
            raise CaseRuleError(
                "the plan becomes active only after a physician approved it "
                f"(POST /api/cases/{self.id}/plan/approval)", "plan.approved_by")
        self.plan.status = status

    def revise_plan(self, plan: Plan, at: datetime | None = None) -> None:
        """Replace the plan. A revised plan needs approval again before the case proceeds."""
        if not self.is_open:
            raise CaseRuleError(f"a {self.status} case cannot change its plan")
        if plan.status == PlanStatus.DRAFT and self.status in (CaseStatus.ACTIVE,
                                                               CaseStatus.ON_HOLD,
                                                               CaseStatus.TRANSITION):
            plan.status = self.plan.status
        plan.approved_by = None
        plan.approved_at = None
        plan.revised_at = at or utcnow()
        self.plan = plan

    # -- monitoring --

    @property
    def review_interval(self) -> timedelta:
        days = self.review_interval_days or REVIEW_INTERVAL_DAYS[self.model]
        return timedelta(days=days)

    @property
    def next_review_due(self) -> date | None:
        """When the next monitoring review is due; None once the case is closed.

        Counted from the last review done (a missed one does not count), else from opening.
        """
        if not self.is_open:
            return None
        done = [r.done_at for r in self.reviews
                if r.done_at is not None and r.outcome != ReviewOutcome.MISSED]
        last = max(done) if done else self.opened_at
        return (last + self.review_interval).date()

    def is_review_overdue(self, today: date) -> bool:
        due = self.next_review_due
        return due is not None and due < today

    def record_review(self, review: Review) -> None:
        """Record a monitoring review, updating goal achievement as it says."""
        if self.status not in (CaseStatus.ACTIVE, CaseStatus.ON_HOLD, CaseStatus.TRANSITION):
            raise CaseRuleError(f"reviews are recorded on active cases, not {self.status}")
        goals = {g.id: g for g in self.plan.goals}
        unknown = [gid for gid in review.goal_updates if gid not in goals]
        if unknown:
            raise CaseRuleError(f"unknown goal ids: {', '.join(unknown)}", "goal_updates")
        if review.done_at is None:
            review.done_at = utcnow()
        for gid, achievement in review.goal_updates.items():
            goal = goals[gid]
            goal.achievement_status = GoalAchievement(achievement)
            if achievement == GoalAchievement.ACHIEVED:
                if goal.lifecycle_status in _GOAL_WORKED_ON:
                    goal.lifecycle_status = GoalLifecycle.COMPLETED
            elif goal.lifecycle_status in _GOAL_NOT_STARTED:
                goal.lifecycle_status = GoalLifecycle.ACTIVE  # progress is being tracked
        self.reviews.append(review)

    def follow_referrals(self) -> None:
        """A plan activity carried out by a referral follows it: completed when its referral
        is completed (and no other referral for it is still open), in progress while one
        is."""
        by_activity: dict[str, list[Referral]] = {}
        for ref in self.referrals:
            if ref.activity is not None:
                by_activity.setdefault(ref.activity, []).append(ref)
        for activity in self.plan.activities:
            refs = by_activity.get(activity.id)
            if not refs or activity.status in _ACTIVITY_FINAL:
                continue
            statuses = {r.status for r in refs}
            if ReferralStatus.IN_PROGRESS in statuses:
                activity.status = ActivityStatus.IN_PROGRESS
            elif ReferralStatus.COMPLETED in statuses and not statuses & _REFERRAL_OPEN:
                activity.status = ActivityStatus.COMPLETED

    # -- lookups --

    def referral(self, referral_id: str) -> Referral:
        for ref in self.referrals:
            if ref.id == referral_id:
                return ref
        raise KeyError(referral_id)

    def funding_in_order(self) -> list[FundingSource]:
        """Active funding sources, primary first."""
        return [f for f in self.funding if f.status == FundingStatus.ACTIVE]
