"""marshmallow schemas of the coverage requests a case manager sends through the case API
(``hub.routes.coverage`` and the console): an eligibility question and a prior
authorization, each for a funding source of the case. Their parts are the case record's
(``hub.schemas``), and their codes are checked as a case's are (``CodesChecked``)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from hub.mappings.codes import ELIGIBILITY_PURPOSES
from hub.schemas import (
    CodesChecked,
    CodeSchema,
    Date,
    Id,
    Many,
    Opt,
    PartySchema,
    PeriodSchema,
)


class EligibilityRequestInputSchema(CodesChecked, Schema):
    """``POST /api/cases/<id>/eligibility-requests``: a question to the payer of a funding
    source (CoverageEligibilityRequest/$submit)."""

    class Meta:
        unknown = RAISE

    funding_id = Id(required=True)
    purposes = fields.List(fields.String(validate=validate.OneOf(ELIGIBILITY_PURPOSES)),
                           load_default=lambda: ["validation"],
                           validate=validate.Length(min=1, max=4))
    services = Many(CodeSchema, load_default=list, validate=validate.Length(max=50))
    category = Opt(CodeSchema)
    serviced = Date(allow_none=True)
    provider = Opt(PartySchema)

    @validates_schema
    def _distinct(self, data, **_kw):
        purposes = data.get("purposes") or []
        if len(set(purposes)) != len(purposes):
            raise ValidationError({"purposes": ["Each purpose at most once."]})


class PriorAuthItemInputSchema(Schema):
    """One service line of a prior-authorization request."""

    class Meta:
        unknown = RAISE

    service = fields.Nested(CodeSchema, required=True)
    category = Opt(CodeSchema)
    location = Opt(CodeSchema)
    quantity = fields.Integer(strict=True, allow_none=True,
                              validate=validate.Range(min=1, max=2**31 - 1))
    period = Opt(PeriodSchema)


class PriorAuthRequestInputSchema(CodesChecked, Schema):
    """``POST /api/cases/<id>/prior-authorizations``: a Da Vinci PAS request."""

    class Meta:
        unknown = RAISE

    funding_id = Id(required=True)
    items = fields.List(fields.Nested(PriorAuthItemInputSchema), required=True,
                        validate=validate.Length(min=1, max=50))
    provider = Opt(PartySchema)
    claim_type = fields.String(load_default="professional",
                               validate=validate.OneOf(("professional", "institutional")))
    priority = fields.String(load_default="normal",
                             validate=validate.OneOf(("stat", "normal", "deferred")))

    @validates_schema
    def _distinct_services(self, data, **_kw):
        seen: dict[tuple[str, str], int] = {}
        for i, item in enumerate(data.get("items") or []):
            service = item.get("service")
            if service is None:
                continue
            key = (service.system, service.code)
            if key in seen:
                raise ValidationError({"items": {i: {"service": [
                    f"The same service as items.{seen[key]}."]}}})
            seen[key] = i
