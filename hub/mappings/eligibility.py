"""CoverageEligibilityRequest out, CoverageEligibilityResponse in (R4 $submit, DOMAIN.md §4.1).

The request is described by ``EligibilityRequest`` (not a case part: a question about one
funding source). The response is read into the funding source's coverage decisions:
``inforce=false`` -> not-covered, ``item.excluded`` -> not-covered,
``item.authorizationRequired`` -> authorization-needed, otherwise covered; ``outcome=error``
and ``error`` -> error decisions for the asked services. Authorization decisions already
obtained (PAS) are not overwritten by an eligibility answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hub import cases
from hub.mappings.codes import ELIGIBILITY_PURPOSES
from hub.mappings.coverage import (
    coverage_reference,
    find_funding,
    payer_reference,
    upsert_decision,
)
from hub.mappings.datatypes import (
    code_from_concept,
    code_to_concept,
    fhir_date,
    fhir_datetime,
    narrative,
    parse_date,
    parse_datetime,
    party_from_reference,
    party_to_reference,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import find_hub_identifier, hub_identifier, resource_id
from hub.mappings.patient import patient_reference

KIND = "eligibility-request"

#: Decisions an eligibility answer never overwrites.
AUTHORIZATION_STATES = frozenset(s for s in cases.DecisionStatus
                                 if s.value.startswith("authorization-")
                                 and s != cases.DecisionStatus.AUTH_NEEDED)


@dataclass
class EligibilityRequest:
    """One eligibility question to the payer of ``funding_id``."""

    funding_id: str
    created: datetime
    purposes: list[str] = field(default_factory=lambda: ["validation"])
    services: list[cases.Code] = field(default_factory=list)  # item.productOrService
    category: cases.Code | None = None  # item.category (e.g. X12 1365 #42 home health)
    serviced: date | None = None
    provider: cases.Party | None = None
    id: str = field(default_factory=cases.new_id)


def eligibility_request_to_fhir(case: cases.Case, request: EligibilityRequest) -> dict[str, Any]:
    """The question as an R4 CoverageEligibilityRequest (status active)."""
    funding = next((f for f in case.funding if f.id == request.funding_id), None)
    if funding is None:
        raise MappingError("CoverageEligibilityRequest.insurance.coverage",
                           f"unknown funding source {request.funding_id}")
    bad = [p for p in request.purposes if p not in ELIGIBILITY_PURPOSES]
    if bad or not request.purposes:
        raise MappingError("CoverageEligibilityRequest.purpose", f"invalid purposes {bad}")
    out: dict[str, Any] = {
        "resourceType": "CoverageEligibilityRequest",
        "id": resource_id(case.id, KIND, request.id),
        "text": narrative("Eligibility request", [("payer", funding.payer.name),
                                                  ("purpose", ", ".join(request.purposes))]),
        "identifier": [hub_identifier(case.id, KIND, request.id)],
        "status": "active",
        "purpose": list(request.purposes),
        "patient": patient_reference(case),
    }
    if request.serviced is not None:
        out["servicedDate"] = fhir_date(request.serviced)
    out["created"] = fhir_datetime(request.created)
    if request.provider is not None:
        out["provider"] = party_to_reference(request.provider)
    out["insurer"] = payer_reference(case, funding)
    out["insurance"] = [{"focal": True,
                         "coverage": coverage_reference(case.id, funding.id, funding.payer.name)}]
    items = []
    for s in request.services:
        item: dict[str, Any] = {}
        if request.category is not None:
            item["category"] = code_to_concept(request.category)
        item["productOrService"] = code_to_concept(s)
        items.append(item)
    if not items and request.category is not None:
        items.append({"category": code_to_concept(request.category)})
    if items:
        out["item"] = items
    return out


def eligibility_request_from_fhir(data: dict[str, Any], case_id: str | None = None,
                                  report: Report | None = None,
                                  case: cases.Case | None = None) -> EligibilityRequest:
    """Read a CoverageEligibilityRequest back (the hub's own, or a partner's)."""
    report = report if report is not None else Report()
    if data.get("resourceType") != "CoverageEligibilityRequest":
        raise MappingError("resourceType", "expected a CoverageEligibilityRequest")
    purposes = list(data.get("purpose") or [])
    bad = [p for p in purposes if p not in ELIGIBILITY_PURPOSES]
    if bad or not purposes:
        raise MappingError("CoverageEligibilityRequest.purpose", f"invalid purposes {bad}")
    insurance = data.get("insurance") or []
    focal = next((i for i in insurance if i.get("focal")), insurance[0] if insurance else None)
    funding_id = None
    if focal is not None:
        ref = focal.get("coverage") or {}
        if case is not None:
            f = find_funding(case, ref)
            funding_id = f.id if f else None
        if funding_id is None:
            ident = (ref.get("identifier") or {}).get("value")
            funding_id = ident.split("/", 1)[1] if ident and "/" in ident else (
                (ref.get("reference") or "").split("/")[-1] or None)
    if funding_id is None:
        raise MappingError("CoverageEligibilityRequest.insurance.coverage",
                           "the request names no coverage")
    services, category = [], None
    for i, item in enumerate(data.get("item") or []):
        path = f"CoverageEligibilityRequest.item[{i}]"
        if item.get("category") and category is None:
            category = code_from_concept(item["category"], f"{path}.category", required=False)
        if item.get("productOrService"):
            code = code_from_concept(item["productOrService"], f"{path}.productOrService",
                                     required=False)
            if code is not None:
                services.append(code)
    created = parse_datetime(data.get("created"), "CoverageEligibilityRequest.created")
    if created is None:
        raise MappingError("CoverageEligibilityRequest.created", "created is required")
    part = find_hub_identifier(data, KIND, case_id)
    if part and case_id is None and "/" in part:
        part = part.split("/", 1)[1]
    part = part or data.get("id")
    kwargs = {"id": part} if part else {}
    return EligibilityRequest(
        funding_id=funding_id, created=created, purposes=purposes, services=services,
        category=category, serviced=parse_date(data.get("servicedDate"),
                                               "CoverageEligibilityRequest.servicedDate"),
        provider=party_from_reference(data.get("provider"), "CoverageEligibilityRequest.provider",
                                      report), **kwargs)


def eligibility_response_decisions(data: dict[str, Any], report: Report | None = None
                                   ) -> list[tuple[dict[str, Any], list[cases.CoverageDecision]]]:
    """The decisions of a CoverageEligibilityResponse, per ``insurance`` entry:
    ``[(coverage Reference, [decision, ...]), ...]``."""
    report = report if report is not None else Report()
    if data.get("resourceType") != "CoverageEligibilityResponse":
        raise MappingError("resourceType", "expected a CoverageEligibilityResponse")
    outcome = data.get("outcome")
    if outcome not in ("queued", "complete", "error", "partial"):
        raise MappingError("CoverageEligibilityResponse.outcome", f"unknown outcome {outcome!r}")
    decided = parse_datetime(data.get("created"), "CoverageEligibilityResponse.created")
    for i, err in enumerate(data.get("error") or []):
        for c in (err.get("code") or {}).get("coding") or []:
            report.unknown_code(f"CoverageEligibilityResponse.error[{i}].code", c.get("system"),
                                c.get("code"), c.get("display"),
                                message=f"payer error {c.get('system')}|{c.get('code')}")
    out = []
    for i, ins in enumerate(data.get("insurance") or []):
        path = f"CoverageEligibilityResponse.insurance[{i}]"
        decisions = []
        inforce = ins.get("inforce")
        if inforce is False:
            report.note(f"{path}.inforce", "coverage not in force")
        for j, item in enumerate(ins.get("item") or []):
            ipath = f"{path}.item[{j}]"
            service = code_from_concept(item.get("productOrService"), f"{ipath}.productOrService",
                                        required=False)
            if service is None:
                service = code_from_concept(item.get("category"), f"{ipath}.category",
                                            required=False)
            if service is None:
                report.unsupported(ipath, "an item without productOrService or category")
                continue
            if inforce is False or item.get("excluded"):
                status = cases.DecisionStatus.NOT_COVERED
            elif item.get("authorizationRequired"):
                status = cases.DecisionStatus.AUTH_NEEDED
            else:
                status = cases.DecisionStatus.COVERED
            if item.get("benefit"):
                report.unsupported(f"{ipath}.benefit", "benefit amounts stay in the response")
            note = item.get("description") or data.get("disposition")
            decisions.append(cases.CoverageDecision(service=service, status=status,
                                                    decided_at=decided, note=note))
        out.append((ins.get("coverage") or {}, decisions))
    return out


def apply_eligibility_response(case: cases.Case, data: dict[str, Any],
                               request: EligibilityRequest | None = None,
                               report: Report | None = None) -> Report:
    """Apply an insurer's CoverageEligibilityResponse to the case's coverage decisions.

    With ``request``, an error outcome marks each asked service ``error``, and a coverage
    reference the case cannot resolve falls back to the request's funding source.
    """
    report = report if report is not None else Report()
    per_coverage = eligibility_response_decisions(data, report)
    fallback = None
    if request is not None:
        fallback = next((f for f in case.funding if f.id == request.funding_id), None)
    if data.get("outcome") == "error" and request is not None and fallback is not None:
        for s in request.services:
            upsert_decision(fallback, cases.CoverageDecision(
                service=s, status=cases.DecisionStatus.ERROR,
                decided_at=parse_datetime(data.get("created"), "CoverageEligibilityResponse.created"),
                note=data.get("disposition")), keep=AUTHORIZATION_STATES)
        report.note("CoverageEligibilityResponse.outcome", "eligibility request failed")
    for i, (ref, decisions) in enumerate(per_coverage):
        funding = find_funding(case, ref) or fallback
        if funding is None:
            raise MappingError(f"CoverageEligibilityResponse.insurance[{i}].coverage",
                               "not a coverage of this case")
        for d in decisions:
            kept = upsert_decision(funding, d, keep=AUTHORIZATION_STATES)
            report.note(f"CoverageEligibilityResponse.insurance[{i}].item",
                        f"{d.service.code}: {kept.status}")
    return report


__all__ = ["AUTHORIZATION_STATES", "EligibilityRequest", "apply_eligibility_response",
           "eligibility_request_from_fhir", "eligibility_request_to_fhir",
           "eligibility_response_decisions"]
