"""marshmallow schemas of the case record: JSON in -> ``hub.cases`` dataclasses, and back.

``CaseSchema()`` is the full record: the API's output and the JSON column of the store
(``load(dump(case)) == case``). ``case_input_schema()`` is what clients may send on create
and update: the server-owned parts (:data:`SERVER_OWNED`) are read-only there and answered
with an error naming each one. Field names are the dataclass names (snake_case); dates are
ISO 8601 and datetimes must carry a timezone.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from hub import cases as c
from hub.mappings import code_checks

#: Parts of a case only the server sets. Status and history move through transitions,
#: plan approval through its own endpoint, reviews and notes are appended by theirs.
SERVER_OWNED = (
    "id", "version", "status", "status_history", "opened_at", "closed_at",
    "plan.status", "plan.approved_by", "plan.approved_at", "plan.revised_at",
    "referrals.history", "referrals.requested_at", "reviews", "notes",
)
READ_ONLY_MESSAGE = "read-only: set by the server"

#: Identifiers of case parts become FHIR ids: keep them within the FHIR id pattern.
ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _not_blank(value: str) -> bool:
    if not value.strip():
        raise ValidationError("Must not be blank.")
    return True


def Text(**kw) -> fields.String:
    """A string; required ones must not be blank, optional ones may be null."""
    if kw.get("required"):
        kw.setdefault("validate", _not_blank)
    else:
        kw.setdefault("allow_none", True)
    return fields.String(**kw)


def Id(**kw) -> fields.String:
    """A client- or server-chosen id of a case part (FHIR id syntax)."""
    return fields.String(validate=validate.Regexp(ID_PATTERN, error="Not a valid id."), **kw)


def Enum(enum, **kw) -> fields.Enum:
    return fields.Enum(enum, by_value=True, **kw)


def Opt(nested, **kw) -> fields.Nested:
    """An optional nested object."""
    return fields.Nested(nested, allow_none=True, **kw)


def Many(inner, **kw) -> fields.List:
    """A list (possibly empty) of nested objects or values."""
    if isinstance(inner, type) and issubclass(inner, Schema):
        inner = fields.Nested(inner)
    return fields.List(inner, **kw)


Date = fields.Date
DateTime = fields.AwareDateTime


class _Record(Schema):
    """A schema whose ``load`` builds the dataclass ``__model__``; unknown keys are errors."""

    __model__: type = object

    class Meta:
        unknown = RAISE

    @post_load
    def _make(self, data: dict, **_kw):
        return self.__model__(**data)


def _check_order(start, end, what: str = "end") -> None:
    if start is not None and end is not None and end < start:
        raise ValidationError({what: ["Must not be before the start."]})


# --- value objects -----------------------------------------------------------------------


class CodeSchema(_Record):
    __model__ = c.Code
    system = Text(required=True)
    code = Text(required=True)
    display = Text()


class IdentifierSchema(_Record):
    __model__ = c.Identifier
    system = Text(required=True)
    value = Text(required=True)
    kind = Enum(c.IdentifierKind)


class HumanNameSchema(_Record):
    __model__ = c.HumanName
    family = Text(required=True)
    given = Many(fields.String(validate=_not_blank))


class AddressSchema(_Record):
    __model__ = c.Address
    lines = Many(fields.String())
    city = Text()
    state = Text()
    postal_code = Text()
    country = Text()


class ContactSchema(_Record):
    __model__ = c.Contact
    phone = Text()
    email = fields.Email(allow_none=True)
    address = Opt(AddressSchema)


class PeriodSchema(_Record):
    __model__ = c.Period
    start = Date(allow_none=True)
    end = Date(allow_none=True)

    @validates_schema
    def _ordered(self, data, **_kw):
        _check_order(data.get("start"), data.get("end"))


class PartySchema(_Record):
    __model__ = c.Party
    name = Text(required=True)
    identifier = Opt(IdentifierSchema)
    reference = Text()


# --- parts of a case ---------------------------------------------------------------------


class PatientSchema(_Record):
    __model__ = c.Patient
    name = fields.Nested(HumanNameSchema, required=True)
    birth_date = Date(allow_none=True)
    gender = Enum(c.Gender)
    identifiers = Many(IdentifierSchema)
    contact = Opt(ContactSchema)


class ConditionSchema(_Record):
    __model__ = c.Condition
    id = Id()
    code = fields.Nested(CodeSchema, required=True)
    category = Enum(c.ConditionCategory)
    clinical_status = Enum(c.ConditionStatus)
    onset = Date(allow_none=True)
    note = Text()


class AssessmentSchema(_Record):
    __model__ = c.Assessment
    assessed_on = Date(allow_none=True)
    assessor = Opt(PartySchema)
    conditions = Many(ConditionSchema)
    needs = Many(fields.String(validate=_not_blank))
    strengths = Many(fields.String(validate=_not_blank))
    summary = Text()


class GoalSchema(_Record):
    __model__ = c.Goal
    id = Id()
    description = Text(required=True)
    lifecycle_status = Enum(c.GoalLifecycle)
    achievement_status = Enum(c.GoalAchievement, allow_none=True)
    target_date = Date(allow_none=True)
    addresses = Many(Id())


class FrequencySchema(_Record):
    __model__ = c.Frequency
    count = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    period = fields.Integer(strict=True, validate=validate.Range(min=1))
    unit = Enum(c.PeriodUnit)


class ActivitySchema(_Record):
    __model__ = c.Activity
    id = Id()
    description = Text(required=True)
    kind = Enum(c.ActivityKind)
    code = Opt(CodeSchema)
    status = Enum(c.ActivityStatus)
    performer = Id(allow_none=True)
    frequency = Opt(FrequencySchema)
    period = Opt(PeriodSchema)
    goals = Many(Id())
    progress = Many(fields.String())


class PlanSchema(_Record):
    __model__ = c.Plan
    status = Enum(c.PlanStatus)
    period = Opt(PeriodSchema)
    approved_by = Opt(PartySchema)
    approved_at = DateTime(allow_none=True)
    goals = Many(GoalSchema)
    activities = Many(ActivitySchema)
    revised_at = DateTime(allow_none=True)


class CareTeamMemberSchema(_Record):
    __model__ = c.CareTeamMember
    id = Id()
    name = Text(required=True)
    role = fields.Nested(CodeSchema, required=True)
    kind = Enum(c.MemberKind)
    identifier = Opt(IdentifierSchema)
    on_behalf_of = Opt(PartySchema)
    period = Opt(PeriodSchema)
    contact = Opt(ContactSchema)


class CoverageDecisionSchema(_Record):
    __model__ = c.CoverageDecision
    id = Id()
    service = fields.Nested(CodeSchema, required=True)
    status = Enum(c.DecisionStatus, required=True)
    authorization_number = Text()
    period = Opt(PeriodSchema)
    decided_at = DateTime(allow_none=True)
    quantity = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0))
    note = Text()


class FundingSourceSchema(_Record):
    __model__ = c.FundingSource
    id = Id()
    kind = Enum(c.FundingKind, required=True)
    payer = fields.Nested(PartySchema, required=True)
    status = Enum(c.FundingStatus)
    plan = Text()
    member_id = Text()
    group = Text()
    relationship = Enum(c.SubscriberRelationship)
    period = Opt(PeriodSchema)
    decisions = Many(CoverageDecisionSchema)

    @validates_schema
    def _member_id(self, data, **_kw):
        member_id = (data.get("member_id") or "").strip()
        if data.get("kind") == c.FundingKind.INSURANCE and not member_id:
            raise ValidationError({"member_id": ["Insurance needs the member id."]})


class EncounterSchema(_Record):
    __model__ = c.Encounter
    id = Id()
    kind = Enum(c.EncounterKind, required=True)
    status = Enum(c.EncounterStatus)
    start = DateTime(allow_none=True)
    end = DateTime(allow_none=True)
    facility = Opt(PartySchema)
    reason = Text()
    discharge_disposition = Enum(c.DischargeDisposition, allow_none=True)
    referral = Id(allow_none=True)

    @validates_schema
    def _ordered(self, data, **_kw):
        _check_order(data.get("start"), data.get("end"))


class StatusChangeSchema(_Record):
    __model__ = c.StatusChange
    status = Text(required=True)
    at = DateTime(required=True)
    reason = Text()
    by = Text()


class ReferralSchema(_Record):
    __model__ = c.Referral
    id = Id()
    service = fields.Nested(CodeSchema, required=True)
    agency = fields.Nested(PartySchema, allow_none=True, load_default=None)
    status = Enum(c.ReferralStatus)
    description = Text()
    reason = Text()
    status_reason = Text()
    business_status = Text()
    activity = Id(allow_none=True)
    period = Opt(PeriodSchema)
    requested_at = DateTime(allow_none=True)
    history = Many(StatusChangeSchema)
    offered_to = Many(PartySchema)


class ReviewSchema(_Record):
    __model__ = c.Review
    id = Id()
    due = Date(required=True)
    done_at = DateTime(allow_none=True)
    mode = Enum(c.ReviewMode)
    outcome = Enum(c.ReviewOutcome, allow_none=True)
    reviewer = Text()
    notes = Text()
    goal_updates = fields.Dict(keys=Id(), values=Enum(c.GoalAchievement))


class NoteSchema(_Record):
    __model__ = c.Note
    id = Id()
    text = Text(required=True)
    at = DateTime()
    author = Text()


# --- the case ----------------------------------------------------------------------------


class CaseSchema(_Record):
    """The whole case record, with its cross-field checks (references and unique ids)."""

    __model__ = c.Case
    id = Id()
    version = fields.Integer(strict=True, validate=validate.Range(min=1))
    status = Enum(c.CaseStatus)
    patient = fields.Nested(PatientSchema, required=True)
    model = Enum(c.CaseModel, required=True)
    setting = Enum(c.Setting, required=True)
    program = Text()
    case_manager = Opt(PartySchema)
    managing_organization = Opt(PartySchema, metadata={
        "description": "The organization that manages the case (FHIR "
                       "EpisodeOfCare.managingOrganization), by reference and/or identifier "
                       "(e.g. an NPI); a partner it names receives the case."})
    opened_at = DateTime()
    closed_at = DateTime(allow_none=True)
    review_interval_days = fields.Integer(strict=True, allow_none=True,
                                          validate=validate.Range(min=1, max=366))
    assessment = Opt(AssessmentSchema)
    plan = fields.Nested(PlanSchema)
    care_team = Many(CareTeamMemberSchema)
    funding = Many(FundingSourceSchema)
    encounters = Many(EncounterSchema)
    referrals = Many(ReferralSchema)
    reviews = Many(ReviewSchema)
    notes = Many(NoteSchema)
    status_history = Many(StatusChangeSchema)

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _references(self, data, original, **_kw):
        """Ids are unique per collection and every reference names an existing part.

        Runs even when some fields failed, so that one answer names every problem. Targets
        are taken from the input (a part that failed still counts as existing); a list with
        a failed item is not checked item by item, its loaded items would be misnumbered.
        """
        errors: dict = {}
        raw = original if isinstance(original, dict) else {}

        def flag(path: tuple, message: str) -> None:
            node = errors
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node.setdefault(path[-1], []).append(message)

        def raw_list(path: tuple) -> list:
            node: Any = raw
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            return node if isinstance(node, list) else []

        def targets(path: tuple) -> set:
            return {i["id"] for i in raw_list(path)
                    if isinstance(i, dict) and isinstance(i.get("id"), str)}

        def loaded(path: tuple) -> list:
            node = data
            for key in path:
                node = node.get(key) if isinstance(node, dict) else getattr(node, key, None)
            if not isinstance(node, list) or len(node) != len(raw_list(path)) \
                    or any(isinstance(i, dict) for i in node):
                return []
            return node

        for path in (("assessment", "conditions"), ("plan", "goals"), ("plan", "activities"),
                     ("care_team",), ("funding",), ("encounters",), ("referrals",),
                     ("reviews",), ("notes",)):
            seen: set[str] = set()
            for i, item in enumerate(loaded(path)):
                if item.id in seen:
                    flag((*path, i, "id"), f"Duplicate id {item.id!r}.")
                seen.add(item.id)
        for i, source in enumerate(loaded(("funding",))):
            seen = set()
            for j, decision in enumerate(source.decisions):
                if decision.id in seen:
                    flag(("funding", i, "decisions", j, "id"), f"Duplicate id {decision.id!r}.")
                seen.add(decision.id)

        conditions = targets(("assessment", "conditions"))
        goals, activities = targets(("plan", "goals")), targets(("plan", "activities"))
        members, referrals = targets(("care_team",)), targets(("referrals",))
        for i, goal in enumerate(loaded(("plan", "goals"))):
            for ref in goal.addresses:
                if ref not in conditions:
                    flag(("plan", "goals", i, "addresses"),
                         f"No condition {ref!r} in the assessment.")
        for i, activity in enumerate(loaded(("plan", "activities"))):
            for ref in activity.goals:
                if ref not in goals:
                    flag(("plan", "activities", i, "goals"), f"No goal {ref!r} in the plan.")
            if activity.performer is not None and activity.performer not in members:
                flag(("plan", "activities", i, "performer"),
                     f"No care-team member {activity.performer!r}.")
        for i, referral in enumerate(loaded(("referrals",))):
            if referral.activity is not None and referral.activity not in activities:
                flag(("referrals", i, "activity"), f"No activity {referral.activity!r}.")
        for i, encounter in enumerate(loaded(("encounters",))):
            if encounter.referral is not None and encounter.referral not in referrals:
                flag(("encounters", i, "referral"), f"No referral {encounter.referral!r}.")
        for i, review in enumerate(loaded(("reviews",))):
            for ref in review.goal_updates:
                if ref not in goals:
                    flag(("reviews", i, "goal_updates"), f"No goal {ref!r} in the plan.")
        if errors:
            raise ValidationError(errors)

    def handle_error(self, error: ValidationError, data, *, many: bool, **kwargs):
        """Say "read-only" instead of "Unknown field." for server-owned fields."""
        if not self.dump_only or not isinstance(error.messages, dict):
            return
        _mark_read_only(error.messages, (), set(self.dump_only))


def _mark_read_only(node: dict, path: tuple, read_only: set[str]) -> None:
    for key, sub in node.items():
        if isinstance(key, int):
            if isinstance(sub, dict):
                _mark_read_only(sub, path, read_only)
            continue
        dotted = ".".join((*path, key))
        if dotted in read_only and sub == ["Unknown field."]:
            node[key] = [READ_ONLY_MESSAGE]
        elif isinstance(sub, dict):
            _mark_read_only(sub, (*path, key), read_only)


class CodesChecked:
    """Input whose codes and identifiers must be able to become valid FHIR (absolute URI
    systems, codes of the systems the hub knows from its tables) and whose birth dates are
    not in the future: ``hub.mappings.code_checks``, each failing field named."""

    @validates_schema
    def _codes(self, data, **_kw):
        found = code_checks.problems(data)
        if found:
            raise ValidationError(found)


class CaseInputSchema(CodesChecked, CaseSchema):
    """What a client sends on create and update (the stored record is read unchecked)."""


@functools.cache
def case_input_schema() -> CaseSchema:
    """The schema of a client's case on create and update: server-owned parts read-only.

    One instance per process: a schema holds no state of a load (marshmallow loads with a
    shared instance from many threads), and building one, with the nested schemas its first
    load builds, cost more than the load itself (bench/README.md). Its nested schemas are
    built here, before any request uses it, not lazily by concurrent first loads."""
    schema = CaseInputSchema(dump_only=SERVER_OWNED)
    _build_nested(schema)
    return schema


def _build_nested(schema: Schema) -> None:
    """``schema`` with every nested schema under it built (marshmallow builds them lazily)."""
    for field in schema.fields.values():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            _build_nested(inner.schema)


# --- requests of the lifecycle endpoints ---------------------------------------------------


class TransitionRequestSchema(Schema):
    """``{"to": "assessment", "reason": "..."}``"""

    class Meta:
        unknown = RAISE

    to = Enum(c.CaseStatus, required=True)
    reason = Text()


class ApprovalRequestSchema(Schema):
    """``{"approved_by": {"name": "Dr ..."}, "approved_at": optional datetime}``"""

    class Meta:
        unknown = RAISE

    approved_by = fields.Nested(PartySchema, required=True)
    approved_at = DateTime(allow_none=True)


class ReviewRequestSchema(ReviewSchema):
    """A monitoring review; ``due`` defaults to when the case's review was due."""

    id = Id(dump_only=True)
    due = Date(allow_none=True)

    @post_load
    def _make(self, data: dict, **_kw):
        return data  # the service fills ``due`` and builds the Review


class NoteRequestSchema(_Record):
    """A note; the server stamps its id and time."""

    __model__ = c.Note
    text = Text(required=True)
    author = Text()
