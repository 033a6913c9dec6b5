"""The vocabularies of the case record: its enumerations and lifecycle transition tables.

Re-exported by ``hub.cases``; import them from there. Plain enums, no FHIR codes: which
FHIR code each value stands for is decided in ``hub.mappings.codes``.
"""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    INTAKE = "intake"
    ASSESSMENT = "assessment"
    PLANNING = "planning"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    TRANSITION = "transition"
    CLOSED = "closed"
    CANCELLED = "cancelled"


#: Allowed lifecycle moves: intake -> assessment -> planning -> active <-> on-hold ->
#: transition -> closed; any open state may be cancelled; a transition that falls
#: through (readmission, plan fails) goes back to active.
CASE_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.INTAKE: frozenset({CaseStatus.ASSESSMENT, CaseStatus.CANCELLED}),
    CaseStatus.ASSESSMENT: frozenset({CaseStatus.PLANNING, CaseStatus.CANCELLED}),
    CaseStatus.PLANNING: frozenset({CaseStatus.ACTIVE, CaseStatus.CANCELLED}),
    CaseStatus.ACTIVE: frozenset({CaseStatus.ON_HOLD, CaseStatus.TRANSITION, CaseStatus.CANCELLED}),
    CaseStatus.ON_HOLD: frozenset({CaseStatus.ACTIVE, CaseStatus.TRANSITION, CaseStatus.CANCELLED}),
    CaseStatus.TRANSITION: frozenset({CaseStatus.CLOSED, CaseStatus.ACTIVE, CaseStatus.CANCELLED}),
    CaseStatus.CLOSED: frozenset(),
    CaseStatus.CANCELLED: frozenset(),
}

FINAL_CASE_STATUSES = frozenset({CaseStatus.CLOSED, CaseStatus.CANCELLED})


class CaseModel(StrEnum):
    """Case-management model."""

    STRENGTHS_BASED = "strengths-based"
    CLINICAL = "clinical"
    BROKERAGE = "brokerage"
    INTENSIVE = "intensive"


#: Default monitoring interval per model, in days: intensive case management sees the
#: patient most often, brokerage (arranging services) least.
REVIEW_INTERVAL_DAYS: dict[CaseModel, int] = {
    CaseModel.INTENSIVE: 7,
    CaseModel.CLINICAL: 14,
    CaseModel.STRENGTHS_BASED: 30,
    CaseModel.BROKERAGE: 90,
}


class Setting(StrEnum):
    """Where the case manager works."""

    HOSPITAL = "hospital"
    HOME_HEALTH = "home-health"
    INSURER = "insurer"
    REHABILITATION = "rehabilitation"
    WORKERS_COMPENSATION = "workers-compensation"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class IdentifierKind(StrEnum):
    MRN = "mrn"
    MEMBER_ID = "member-id"
    NATIONAL = "national"
    OTHER = "other"


class ConditionCategory(StrEnum):
    HEALTH_CONCERN = "health-concern"
    PROBLEM_LIST_ITEM = "problem-list-item"


class ConditionStatus(StrEnum):
    """Clinical status of a condition (condition-clinical codes)."""

    ACTIVE = "active"
    RECURRENCE = "recurrence"
    RELAPSE = "relapse"
    INACTIVE = "inactive"
    REMISSION = "remission"
    RESOLVED = "resolved"


class PlanStatus(StrEnum):
    """Status of the individualized plan (request-status codes)."""

    DRAFT = "draft"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    REVOKED = "revoked"
    COMPLETED = "completed"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"


class GoalLifecycle(StrEnum):
    PROPOSED = "proposed"
    PLANNED = "planned"
    ACCEPTED = "accepted"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    REJECTED = "rejected"


class GoalAchievement(StrEnum):
    IN_PROGRESS = "in-progress"
    IMPROVING = "improving"
    WORSENING = "worsening"
    NO_CHANGE = "no-change"
    ACHIEVED = "achieved"
    SUSTAINING = "sustaining"
    NOT_ACHIEVED = "not-achieved"
    NO_PROGRESS = "no-progress"
    NOT_ATTAINABLE = "not-attainable"


class ActivityKind(StrEnum):
    """What kind of request carries an activity (CarePlan.activity.detail.kind codes)."""

    SERVICE_REQUEST = "ServiceRequest"
    APPOINTMENT = "Appointment"
    COMMUNICATION_REQUEST = "CommunicationRequest"
    DEVICE_REQUEST = "DeviceRequest"
    MEDICATION_REQUEST = "MedicationRequest"
    NUTRITION_ORDER = "NutritionOrder"
    TASK = "Task"
    VISION_PRESCRIPTION = "VisionPrescription"


class ActivityStatus(StrEnum):
    NOT_STARTED = "not-started"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    UNKNOWN = "unknown"
    ENTERED_IN_ERROR = "entered-in-error"


class PeriodUnit(StrEnum):
    """Units of a frequency period (UCUM time units as used by FHIR Timing)."""

    HOUR = "h"
    DAY = "d"
    WEEK = "wk"
    MONTH = "mo"
    YEAR = "a"


class MemberKind(StrEnum):
    """What a care-team member is, in FHIR terms the reference target."""

    PRACTITIONER = "practitioner"
    PRACTITIONER_ROLE = "practitioner-role"
    ORGANIZATION = "organization"
    RELATED_PERSON = "related-person"
    PATIENT = "patient"


class FundingKind(StrEnum):
    INSURANCE = "insurance"
    PUBLIC = "public"
    CHARITY = "charity"
    SELF_PAY = "self-pay"
    WORKERS_COMPENSATION = "workers-compensation"


class FundingStatus(StrEnum):
    """Record status of a funding source (fm-status codes)."""

    ACTIVE = "active"
    CANCELLED = "cancelled"
    DRAFT = "draft"
    ENTERED_IN_ERROR = "entered-in-error"


class SubscriberRelationship(StrEnum):
    SELF = "self"
    SPOUSE = "spouse"
    CHILD = "child"
    PARENT = "parent"
    COMMON = "common"
    OTHER = "other"
    INJURED = "injured"


class DecisionStatus(StrEnum):
    """Coverage of one service by one funding source."""

    COVERED = "covered"
    NOT_COVERED = "not-covered"
    AUTH_NEEDED = "authorization-needed"
    AUTH_SUBMITTED = "authorization-submitted"
    AUTH_APPROVED = "authorization-approved"
    AUTH_PARTIAL = "authorization-partial"
    AUTH_MODIFIED = "authorization-modified"
    AUTH_DENIED = "authorization-denied"
    AUTH_PENDED = "authorization-pended"
    AUTH_CANCELLED = "authorization-cancelled"
    ERROR = "error"


class EncounterKind(StrEnum):
    INPATIENT = "inpatient"
    EMERGENCY = "emergency"
    HOME_VISIT = "home-visit"
    AMBULATORY = "ambulatory"
    VIRTUAL = "virtual"


class EncounterStatus(StrEnum):
    PLANNED = "planned"
    ARRIVED = "arrived"
    TRIAGED = "triaged"
    IN_PROGRESS = "in-progress"
    ONLEAVE = "onleave"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"


class DischargeDisposition(StrEnum):
    """Where the patient went (discharge-disposition codes; home-health = NUBC 06)."""

    HOME = "home"
    HOME_HEALTH = "home-health"
    ALTERNATIVE_HOME = "alt-home"
    OTHER_HCF = "other-hcf"
    HOSPICE = "hosp"
    LONG_TERM_CARE = "long"
    AGAINST_ADVICE = "aadvice"
    EXPIRED = "exp"
    PSYCHIATRIC = "psy"
    REHABILITATION = "rehab"
    SKILLED_NURSING = "snf"
    OTHER = "oth"


class ReferralStatus(StrEnum):
    """Referral state, following the referral Task states."""

    DRAFT = "draft"
    REQUESTED = "requested"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    FAILED = "failed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"


class Actor(StrEnum):
    """Who moves a referral: the hub (requester) or the agency that owns the Task."""

    REQUESTER = "requester"
    OWNER = "owner"


_R = ReferralStatus
#: Referral moves per actor. The requester creates and may cancel before completion; the
#: owner moves the work itself. entered-in-error is allowed to both from any state.
REFERRAL_TRANSITIONS: dict[Actor, dict[ReferralStatus, frozenset[ReferralStatus]]] = {
    Actor.REQUESTER: {
        _R.DRAFT: frozenset({_R.REQUESTED, _R.CANCELLED}),
        _R.REQUESTED: frozenset({_R.CANCELLED}),
        _R.RECEIVED: frozenset({_R.CANCELLED}),
        _R.ACCEPTED: frozenset({_R.CANCELLED}),
        _R.IN_PROGRESS: frozenset({_R.CANCELLED}),
        _R.ON_HOLD: frozenset({_R.CANCELLED}),
    },
    Actor.OWNER: {
        _R.REQUESTED: frozenset({_R.RECEIVED, _R.ACCEPTED, _R.REJECTED}),
        _R.RECEIVED: frozenset({_R.ACCEPTED, _R.REJECTED}),
        _R.ACCEPTED: frozenset({_R.IN_PROGRESS, _R.ON_HOLD, _R.FAILED, _R.COMPLETED}),
        _R.IN_PROGRESS: frozenset({_R.ON_HOLD, _R.FAILED, _R.COMPLETED}),
        _R.ON_HOLD: frozenset({_R.IN_PROGRESS, _R.FAILED}),
    },
}
FINAL_REFERRAL_STATUSES = frozenset(
    {_R.REJECTED, _R.CANCELLED, _R.COMPLETED, _R.FAILED, _R.ENTERED_IN_ERROR}
)
#: States in which a reason should be given (Gravity: statusReason.text).
REFERRAL_REASON_REQUIRED = frozenset({_R.REJECTED, _R.CANCELLED, _R.ON_HOLD, _R.FAILED})


class ReviewOutcome(StrEnum):
    ON_TRACK = "on-track"
    PROGRESSING = "progressing"
    NOT_PROGRESSING = "not-progressing"
    PLAN_REVISED = "plan-revised"
    ESCALATED = "escalated"
    MISSED = "missed"


class ReviewMode(StrEnum):
    IN_PERSON = "in-person"
    HOME_VISIT = "home-visit"
    PHONE = "phone"
    VIDEO = "video"
    CASE_CONFERENCE = "case-conference"
