"""marshmallow schemas of the worklist, ``GET /api/cases``: its query and its page of case
summaries (the case API's full record is ``hub.schemas.CaseSchema``)."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from hub import cases as c
from hub.schemas import HumanNameSchema, IdentifierSchema, PartySchema
from hub.store.case_repo import SORTS

SORT_CHOICES = tuple(s for name in SORTS for s in (name, f"-{name}"))


class CaseQuerySchema(Schema):
    """Query parameters of ``GET /api/cases``; every given filter must hold."""

    class Meta:
        unknown = RAISE

    status = fields.List(fields.Enum(c.CaseStatus, by_value=True), metadata={
        "description": "case status; repeat or comma-separate for any of several"})
    name = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "every word appears in the patient's name (case-insensitive)"})
    identifier = fields.String(validate=validate.Length(min=1, max=500), metadata={
        "description": "a patient identifier: `system|value`, `|value` or a bare value"})
    case_manager = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "the case manager's name (case-insensitive)"})
    model = fields.Enum(c.CaseModel, by_value=True)
    program = fields.String(validate=validate.Length(min=1, max=128))
    overdue = fields.Boolean(metadata={
        "description": "only open cases whose next review was due before `as_of`"})
    as_of = fields.Date(metadata={"description": "the day `overdue` counts from (today)"})
    due_before = fields.Date(metadata={
        "description": "only cases whose next review is due before this day"})
    sort = fields.String(validate=validate.OneOf(SORT_CHOICES), load_default="opened_at",
                         metadata={"description": "order: `next_review_due` or `opened_at`, "
                                                  "`-` first for descending; ties by id"})
    limit = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    offset = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1))


class PatientSummarySchema(Schema):
    name = fields.Nested(HumanNameSchema)
    birth_date = fields.Date(allow_none=True)
    gender = fields.Enum(c.Gender, by_value=True, allow_none=True)
    identifiers = fields.List(fields.Nested(IdentifierSchema))


class CaseSummarySchema(Schema):
    """One worklist line: what a case manager scans, without the record's parts."""

    id = fields.String()
    version = fields.Integer()
    status = fields.Enum(c.CaseStatus, by_value=True)
    patient = fields.Nested(PatientSummarySchema)
    model = fields.Enum(c.CaseModel, by_value=True)
    setting = fields.Enum(c.Setting, by_value=True)
    program = fields.String(allow_none=True)
    case_manager = fields.Nested(PartySchema, allow_none=True)
    opened_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    plan_status = fields.Enum(c.PlanStatus, by_value=True)
    next_review_due = fields.Date(allow_none=True, metadata={
        "description": "when the next monitoring review is due; null once closed"})
    review_overdue = fields.Boolean()
    href = fields.String(metadata={"description": "the full case"})


class CasePageSchema(Schema):
    """A page of the worklist, with links to the pages beside it."""

    items = fields.List(fields.Nested(CaseSummarySchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
    next = fields.String(allow_none=True, metadata={"description": "the next page, or null"})
    previous = fields.String(allow_none=True,
                             metadata={"description": "the previous page, or null"})


def summary(case: c.Case, href: str, today: Any) -> dict[str, Any]:
    """The worklist line of ``case`` (to dump with ``CaseSummarySchema``)."""
    return {"id": case.id, "version": case.version, "status": case.status,
            "patient": case.patient, "model": case.model, "setting": case.setting,
            "program": case.program, "case_manager": case.case_manager,
            "opened_at": case.opened_at, "closed_at": case.closed_at,
            "plan_status": case.plan.status, "next_review_due": case.next_review_due,
            "review_overdue": case.is_review_overdue(today), "href": href}
