"""Da Vinci PAS 2.2.1 prior authorization: the request Bundle out, the response in.

Request (``pas_request_bundle``): a Bundle ``type=collection`` (profile
pas-request-bundle) whose FIRST entry is the Claim (``use=preauthorization``, status
active, type professional/institutional, priority, provider, insurer, insurance
sequence/focal/coverage, items with category, productOrService, locationCodeableConcept and
the PAS requestType/certificationType extensions), followed by every resource it references,
transitively, each with a fullUrl.

Response (``claim_response_results`` / ``apply_claim_response``): the decision is per item,
in ``item.adjudication.extension[reviewAction]`` (X12 306: A1 approved, A2 partial, A3
denied, A4 pended, A6 modified, C cancelled, CT contact payer). ``outcome=complete`` does
not mean approved. ``rollup`` gives the case-level state (DOMAIN.md §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from hub import cases
from hub.mappings.codes import (
    ADJUDICATION,
    CERTIFICATION_INITIAL,
    CLAIM_PRIORITIES,
    CLAIM_TYPE,
    CLAIM_TYPES,
    EXT_ADMIN_REFERENCE,
    EXT_CERTIFICATION_TYPE,
    EXT_ITEM_AUTHORIZED_DETAIL,
    EXT_ITEM_PREAUTH_PERIOD,
    EXT_PAS_ITEM_DECISION,
    EXT_REQUEST_TYPE,
    EXT_REVIEW_ACTION,
    EXT_REVIEW_ACTION_CODE,
    HOME_HEALTH_CATEGORY,
    HOME_PLACE_OF_SERVICE,
    HUB_CANONICAL,
    PAS_CLAIM,
    PAS_CLAIM_RESPONSE,
    PAS_REQUEST_BUNDLE,
    PAS_RESPONSE_BUNDLE,
    PROCESS_PRIORITY,
    REQUEST_TYPE_HS,
    REVIEW_ACTION,
    REVIEW_ACTION_OUT,
    X12_306,
    X12_1322,
)
from hub.mappings.coverage import (
    coverage_reference,
    coverage_to_fhir,
    find_funding,
    payer_organization_to_fhir,
    payer_reference,
    upsert_decision,
)
from hub.mappings.datatypes import (
    code_from_concept,
    code_to_concept,
    concept,
    fhir_datetime,
    find_ext,
    local_ref,
    parse_datetime,
    party_from_reference,
    party_to_reference,
    period_from_fhir,
    period_to_fhir,
)
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import find_hub_identifier, hub_identifier, resource_id
from hub.mappings.patient import patient_reference, patient_to_fhir

KIND = "pas-claim"
RESPONSE_KIND = "pas-claim-response"
PROVIDER_KIND = "pas-provider"
DEFAULT_BASE = HUB_CANONICAL

_D = cases.DecisionStatus


@dataclass
class PriorAuthItem:
    """One service line: the case decision it asks for and how it is asked."""

    decision_id: str
    service: cases.Code
    category: cases.Code = field(default_factory=lambda: cases.Code(*HOME_HEALTH_CATEGORY))
    location: cases.Code | None = field(
        default_factory=lambda: cases.Code(*HOME_PLACE_OF_SERVICE))
    certification: str = CERTIFICATION_INITIAL[1]  # X12 1322: I initial, 3 cancel
    quantity: int | None = None
    period: cases.Period | None = None


@dataclass
class PriorAuthRequest:
    """A prior-authorization request to the payer of ``funding_id``."""

    funding_id: str
    created: datetime
    provider: cases.Party
    items: list[PriorAuthItem] = field(default_factory=list)
    claim_type: str = "professional"  # or institutional (inpatient utilization review)
    priority: str = "normal"
    id: str = field(default_factory=cases.new_id)


@dataclass
class ItemResult:
    """The payer's answer for one item (``itemSequence``)."""

    sequence: int
    status: cases.DecisionStatus
    review_code: str | None = None
    authorization_number: str | None = None
    period: cases.Period | None = None
    quantity: int | None = None
    note: str | None = None


# --- roll-up ------------------------------------------------------------------------------

def rollup(statuses: list[cases.DecisionStatus]) -> cases.DecisionStatus:
    """Case-level state of a PAS answer: all approved -> approved, any pended -> pended,
    all denied -> denied, all modified -> modified, all cancelled -> cancelled, else
    partial. An empty answer is an error."""
    if not statuses:
        return _D.ERROR
    s = set(statuses)
    if s == {_D.AUTH_APPROVED}:
        return _D.AUTH_APPROVED
    if _D.AUTH_PENDED in s:
        return _D.AUTH_PENDED
    for single in (_D.AUTH_DENIED, _D.AUTH_MODIFIED, _D.AUTH_CANCELLED, _D.ERROR):
        if s == {single}:
            return single
    return _D.AUTH_PARTIAL


# --- request ------------------------------------------------------------------------------

def claim_id(case_id: str, request_id: str) -> str:
    return resource_id(case_id, KIND, request_id)


def _provider_ref(case: cases.Case, request: PriorAuthRequest) -> dict[str, Any]:
    ref = party_to_reference(request.provider)
    if request.provider.reference is None:
        ref = {"reference": f"Organization/{resource_id(case.id, PROVIDER_KIND, request.id)}",
               **ref}
    return ref


def claim_to_fhir(case: cases.Case, request: PriorAuthRequest) -> dict[str, Any]:
    """The PAS Claim (``use=preauthorization``) of a request."""
    funding = next((f for f in case.funding if f.id == request.funding_id), None)
    if funding is None:
        raise MappingError("Claim.insurance.coverage", f"unknown funding {request.funding_id}")
    if request.claim_type not in CLAIM_TYPES:
        raise MappingError("Claim.type", f"unknown claim type {request.claim_type!r}")
    if request.priority not in CLAIM_PRIORITIES:
        raise MappingError("Claim.priority", f"unknown priority {request.priority!r}")
    if not request.items:
        raise MappingError("Claim.item", "a prior authorization needs at least one item")
    items = []
    for seq, it in enumerate(request.items, start=1):
        item: dict[str, Any] = {"extension": [
            {"url": EXT_PAS_ITEM_DECISION, "valueString": it.decision_id},
            {"url": EXT_REQUEST_TYPE, "valueCodeableConcept": concept(*REQUEST_TYPE_HS)},
            {"url": EXT_CERTIFICATION_TYPE,
             "valueCodeableConcept": concept(X12_1322, it.certification)},
        ], "sequence": seq, "category": code_to_concept(it.category),
            "productOrService": code_to_concept(it.service)}
        period = period_to_fhir(it.period)
        if period is not None:
            item["servicedPeriod"] = period
        if it.location is not None:
            item["locationCodeableConcept"] = code_to_concept(it.location)
        if it.quantity is not None:
            item["quantity"] = {"value": it.quantity}
        items.append(item)
    return {
        "resourceType": "Claim",
        "id": claim_id(case.id, request.id),
        "meta": {"profile": [PAS_CLAIM]},
        "identifier": [hub_identifier(case.id, KIND, request.id)],
        "status": "active",
        "type": concept(CLAIM_TYPE, request.claim_type),
        "use": "preauthorization",
        "patient": patient_reference(case),
        "created": fhir_datetime(request.created),
        "insurer": payer_reference(case, funding),
        "provider": _provider_ref(case, request),
        "priority": concept(PROCESS_PRIORITY, request.priority),
        "insurance": [{"sequence": 1, "focal": True,
                       "coverage": coverage_reference(case.id, funding.id)}],
        "item": items,
    }


def _references(node: object, path: str = "") -> list[tuple[str, str]]:
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                out.append((path, v))
            else:
                out.extend(_references(v, f"{path}.{k}" if path else k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_references(v, f"{path}[{i}]"))
    return out


def pas_request_bundle(case: cases.Case, request: PriorAuthRequest,
                       resources: dict[str, dict[str, Any]] | None = None,
                       base: str = DEFAULT_BASE) -> dict[str, Any]:
    """The PAS request Bundle: the Claim first, then everything it references, transitively.

    ``resources`` supplies referenced resources the case cannot produce (``Type/id`` ->
    resource), e.g. the payer's Organization when the payer has a reference of its own. A
    reference nothing can resolve raises MappingError naming its path.
    """
    claim = claim_to_fhir(case, request)
    funding = next(f for f in case.funding if f.id == request.funding_id)
    known: dict[str, dict[str, Any]] = {}
    for r in (patient_to_fhir(case), coverage_to_fhir(case, funding),
              payer_organization_to_fhir(case, funding)):
        if r is not None:
            known[f"{r['resourceType']}/{r['id']}"] = r
    if request.provider.reference is None:
        prov = {"resourceType": "Organization",
                "id": resource_id(case.id, PROVIDER_KIND, request.id),
                "identifier": [hub_identifier(case.id, PROVIDER_KIND, request.id)],
                "active": True, "name": request.provider.name}
        known[f"Organization/{prov['id']}"] = prov
    known.update(resources or {})
    entries = [claim]
    seen = {f"Claim/{claim['id']}"}
    queue = [claim]
    while queue:
        res = queue.pop(0)
        for path, ref in _references(res):
            target = local_ref(ref)
            if target is None or target.startswith("#") or target in seen:
                continue
            if target not in known:
                raise MappingError(f"{res['resourceType']}.{path}",
                                   f"{ref} is not available to include in the PAS Bundle")
            seen.add(target)
            entries.append(known[target])
            queue.append(known[target])
    return {
        "resourceType": "Bundle",
        "id": resource_id(case.id, f"{KIND}-bundle", request.id),
        "meta": {"profile": [PAS_REQUEST_BUNDLE]},
        "identifier": hub_identifier(case.id, KIND, request.id),
        "type": "collection",
        "timestamp": fhir_datetime(request.created),
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
                  for r in entries],
    }


def _first(bundle_or_resource: dict[str, Any], resource_type: str,
           path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the resource, {Type/id: resource} of the Bundle) of a resource or a PAS Bundle."""
    if bundle_or_resource.get("resourceType") != "Bundle":
        if bundle_or_resource.get("resourceType") != resource_type:
            raise MappingError("resourceType", f"expected a {resource_type} or a PAS Bundle")
        return bundle_or_resource, {}
    entries = bundle_or_resource.get("entry") or []
    if not entries or (entries[0].get("resource") or {}).get("resourceType") != resource_type:
        raise MappingError(f"{path}.entry[0]", f"the first entry must be the {resource_type}")
    index = {}
    for e in entries:
        r = e.get("resource") or {}
        index[f"{r.get('resourceType')}/{r.get('id')}"] = r
        if e.get("fullUrl"):
            index[e["fullUrl"]] = r
    return entries[0]["resource"], index


def pas_request_from_fhir(data: dict[str, Any], case_id: str | None = None, report: Report | None = None,
                          case: cases.Case | None = None) -> PriorAuthRequest:
    """Read a PAS request Bundle (or its Claim) back into a PriorAuthRequest."""
    report = report if report is not None else Report()
    claim, index = _first(data, "Claim", "Bundle")
    if claim.get("use") != "preauthorization":
        raise MappingError("Claim.use", f"use {claim.get('use')!r} is not a prior authorization")
    if claim.get("status") != "active":
        raise MappingError("Claim.status", "a PAS Claim is active")
    ctype = next((c.get("code") for c in (claim.get("type") or {}).get("coding") or []
                  if c.get("system") == CLAIM_TYPE), None)
    if ctype not in CLAIM_TYPES:
        raise MappingError("Claim.type", f"unknown claim type {ctype!r}")
    priority = next((c.get("code") for c in (claim.get("priority") or {}).get("coding") or []),
                    None)
    if priority not in CLAIM_PRIORITIES:
        report.unknown_code("Claim.priority", PROCESS_PRIORITY, priority)
        priority = "normal"
    insurance = claim.get("insurance") or []
    focal = next((i for i in insurance if i.get("focal")), None)
    if focal is None:
        raise MappingError("Claim.insurance", "no focal coverage")
    ref = focal.get("coverage") or {}
    funding_id = None
    if case is not None:
        f = find_funding(case, ref)
        funding_id = f.id if f else None
    if funding_id is None:
        target = index.get(local_ref(ref.get("reference")) or "") or index.get(
            ref.get("reference") or "")
        ident = (ref.get("identifier") or {}).get("value") or (
            find_hub_identifier(target, "coverage") if target else None)
        funding_id = (ident.split("/", 1)[1] if ident and "/" in ident
                      else (local_ref(ref.get("reference")) or "").split("/")[-1] or None)
    provider = party_from_reference(claim.get("provider"), "Claim.provider", report)
    if provider is None:
        raise MappingError("Claim.provider", "a PAS Claim needs a provider")
    part = find_hub_identifier(claim, KIND, case_id)
    owner = case_id
    if part and case_id is None and "/" in part:
        owner, part = part.split("/", 1)
    if owner and part and local_ref(provider.reference) == \
            f"Organization/{resource_id(owner, PROVIDER_KIND, part)}":
        provider.reference = None
    items = []
    for i, it in enumerate(claim.get("item") or []):
        path = f"Claim.item[{i}]"
        service = code_from_concept(it.get("productOrService"), f"{path}.productOrService")
        category = code_from_concept(it.get("category"), f"{path}.category", required=False)
        decision = find_ext(it, EXT_PAS_ITEM_DECISION)
        cert = find_ext(it, EXT_CERTIFICATION_TYPE)
        cert_code = code_from_concept((cert or {}).get("valueCodeableConcept"),
                                      f"{path}.extension[certificationType]", required=False)
        qty = (it.get("quantity") or {}).get("value")
        if qty is not None and qty != int(qty):
            report.unsupported(f"{path}.quantity", "fractional quantity rounded")
        items.append(PriorAuthItem(
            decision_id=decision["valueString"] if decision else f"item-{it.get('sequence')}",
            service=service,
            category=category or cases.Code(*HOME_HEALTH_CATEGORY),
            location=code_from_concept(it.get("locationCodeableConcept"),
                                       f"{path}.locationCodeableConcept", required=False),
            certification=cert_code.code if cert_code else CERTIFICATION_INITIAL[1],
            quantity=int(qty) if qty is not None else None,
            period=period_from_fhir(it.get("servicedPeriod"), f"{path}.servicedPeriod")))
        if it.get("sequence") != i + 1:
            raise MappingError(f"{path}.sequence", "items must be numbered 1, 2, ... in order")
    created = parse_datetime(claim.get("created"), "Claim.created")
    kwargs = {"id": part} if part else ({"id": claim["id"]} if claim.get("id") else {})
    return PriorAuthRequest(funding_id=cast(str, funding_id), created=cast(datetime, created),
                            provider=provider,
                            items=items, claim_type=ctype, priority=priority, **kwargs)


# --- response -----------------------------------------------------------------------------

def claim_response_results(data: dict[str, Any], report: Report | None = None) -> list[ItemResult]:
    """The per-item answers of a PAS ClaimResponse (or response Bundle)."""
    report = report if report is not None else Report()
    resp, _ = _first(data, "ClaimResponse", "Bundle")
    if resp.get("use") != "preauthorization":
        raise MappingError("ClaimResponse.use", "not a prior-authorization response")
    outcome = resp.get("outcome")
    if outcome not in ("queued", "complete", "error", "partial"):
        raise MappingError("ClaimResponse.outcome", f"unknown outcome {outcome!r}")
    for i, err in enumerate(resp.get("error") or []):
        for c in (err.get("code") or {}).get("coding") or []:
            report.unknown_code(f"ClaimResponse.error[{i}].code", c.get("system"), c.get("code"),
                                c.get("display"), message=f"payer error {c.get('code')}")
    header_period = period_from_fhir(resp.get("preAuthPeriod"), "ClaimResponse.preAuthPeriod")
    results = []
    for i, item in enumerate(resp.get("item") or []):
        path = f"ClaimResponse.item[{i}]"
        status, code, number, note = None, None, None, None
        for j, adj in enumerate(item.get("adjudication") or []):
            action = find_ext(adj, EXT_REVIEW_ACTION)
            if action is None:
                continue
            apath = f"{path}.adjudication[{j}].extension[reviewAction]"
            for sub in action.get("extension") or []:
                if sub.get("url") == EXT_REVIEW_ACTION_CODE:
                    for c in (sub.get("valueCodeableConcept") or {}).get("coding") or []:
                        if c.get("system") == X12_306 and c.get("code") in REVIEW_ACTION:
                            code, status = c["code"], _D(REVIEW_ACTION[c["code"]])
                            break
                    else:
                        for c in (sub.get("valueCodeableConcept") or {}).get("coding") or []:
                            report.unknown_code(f"{apath}.reviewActionCode", c.get("system"),
                                                c.get("code"), c.get("display"))
                elif sub.get("url") == "number":
                    number = sub.get("valueString")
                elif sub.get("url") == "reasonCode":
                    cc = sub.get("valueCodeableConcept") or {}
                    c0 = (cc.get("coding") or [{}])[0]
                    note = cc.get("text") or c0.get("display") or c0.get("code")
            break
        if status is None:
            status = _D.ERROR if outcome == "error" else _D.AUTH_SUBMITTED
            report.unsupported(path, f"no review action: item kept as {status.value}", "warning")
        period = period_from_fhir((find_ext(item, EXT_ITEM_PREAUTH_PERIOD) or {})
                                  .get("valuePeriod"), f"{path}.extension[itemPreAuthPeriod]")
        quantity = None
        detail = find_ext(item, EXT_ITEM_AUTHORIZED_DETAIL)
        if detail is not None:
            q = (find_ext(detail, "quantity") or {}).get("valueQuantity") or {}
            if q.get("value") is not None:
                quantity = int(q["value"])
        admin = find_ext(item, EXT_ADMIN_REFERENCE)
        if note is None and admin is not None:
            note = f"payer reference {admin.get('valueString')}"
        results.append(ItemResult(
            sequence=item.get("itemSequence"), status=status, review_code=code,
            authorization_number=number or resp.get("preAuthRef"),
            period=period or header_period, quantity=quantity, note=note))
    if not results and outcome == "error":
        report.note("ClaimResponse.outcome", "the payer could not process the request")
    return results


def apply_claim_response(case: cases.Case, data: dict[str, Any], request: PriorAuthRequest,
                         report: Report | None = None) -> Report:
    """Apply a PAS ClaimResponse (or response Bundle) to the decisions of the request's
    funding source; items are matched by ``itemSequence`` to the request's items. The
    rolled-up state is reported at path ``ClaimResponse`` (see ``rollup``)."""
    report = report if report is not None else Report()
    resp, _ = _first(data, "ClaimResponse", "Bundle")
    funding = next((f for f in case.funding if f.id == request.funding_id), None)
    if funding is None:
        funding = find_funding(case, ((resp.get("insurance") or [{}])[0]).get("coverage"))
    if funding is None:
        raise MappingError("ClaimResponse.insurance.coverage", "not a coverage of this case")
    decided = parse_datetime(resp.get("created"), "ClaimResponse.created")
    results = claim_response_results(data, report)
    statuses = []
    answered = set()
    for r in results:
        if not isinstance(r.sequence, int) or not 1 <= r.sequence <= len(request.items):
            report.unsupported("ClaimResponse.item.itemSequence",
                               f"item {r.sequence} is not in the request", "warning")
            continue
        answered.add(r.sequence)
        item = request.items[r.sequence - 1]
        statuses.append(r.status)
        upsert_decision(funding, cases.CoverageDecision(
            service=item.service, status=r.status, id=item.decision_id,
            authorization_number=r.authorization_number, period=r.period or item.period,
            decided_at=decided, quantity=r.quantity if r.quantity is not None else item.quantity,
            note=r.note))
    if resp.get("outcome") == "error":
        for seq, item in enumerate(request.items, start=1):
            if seq not in answered:
                statuses.append(_D.ERROR)
                upsert_decision(funding, cases.CoverageDecision(
                    service=item.service, status=_D.ERROR, id=item.decision_id,
                    decided_at=decided, note="payer error"))
    report.note("ClaimResponse", f"prior authorization {rollup(statuses).value}")
    return report


def claim_response_to_fhir(case: cases.Case, request: PriorAuthRequest,
                           results: list[ItemResult], created: datetime,
                           outcome: str = "complete") -> dict[str, Any]:
    """A PAS ClaimResponse answering ``request`` (insurer simulators, fixtures)."""
    funding = next(f for f in case.funding if f.id == request.funding_id)
    items = []
    for r in results:
        subs: list[dict[str, Any]] = []
        if r.authorization_number is not None:
            subs.append({"url": "number", "valueString": r.authorization_number})
        if r.review_code is not None or r.status in REVIEW_ACTION_OUT:
            code, display = ((r.review_code, None) if r.review_code
                             else REVIEW_ACTION_OUT[r.status])
            subs.append({"url": EXT_REVIEW_ACTION_CODE,
                         "valueCodeableConcept": concept(X12_306, code, display)})
        if r.note is not None:
            subs.append({"url": "reasonCode", "valueCodeableConcept": {"text": r.note}})
        item: dict[str, Any] = {}
        exts: list[dict[str, Any]] = []
        period = period_to_fhir(r.period)
        if period is not None:
            exts.append({"url": EXT_ITEM_PREAUTH_PERIOD, "valuePeriod": period})
        if r.quantity is not None:
            exts.append({"url": EXT_ITEM_AUTHORIZED_DETAIL,
                         "extension": [{"url": "quantity", "valueQuantity": {"value": r.quantity}}]})
        if exts:
            item["extension"] = exts
        item["itemSequence"] = r.sequence
        adj: dict[str, Any] = {}
        if subs:
            adj["extension"] = [{"url": EXT_REVIEW_ACTION, "extension": subs}]
        adj["category"] = concept(ADJUDICATION, "submitted")
        item["adjudication"] = [adj]
        items.append(item)
    out = {
        "resourceType": "ClaimResponse",
        "id": resource_id(case.id, RESPONSE_KIND, request.id),
        "meta": {"profile": [PAS_CLAIM_RESPONSE]},
        "identifier": [hub_identifier(case.id, RESPONSE_KIND, request.id)],
        "status": "active",
        "type": concept(CLAIM_TYPE, request.claim_type),
        "use": "preauthorization",
        "patient": patient_reference(case),
        "created": fhir_datetime(created),
        "insurer": payer_reference(case, funding),
        "request": {"reference": f"Claim/{claim_id(case.id, request.id)}"},
        "outcome": outcome,
    }
    if items:
        out["item"] = items
    return out


def pas_response_bundle(case: cases.Case, request: PriorAuthRequest, results: list[ItemResult],
                        created: datetime, outcome: str = "complete",
                        base: str = DEFAULT_BASE) -> dict[str, Any]:
    """A PAS response Bundle: the ClaimResponse first, then the patient and the payer."""
    resp = claim_response_to_fhir(case, request, results, created, outcome)
    funding = next(f for f in case.funding if f.id == request.funding_id)
    others = [r for r in (patient_to_fhir(case), payer_organization_to_fhir(case, funding)) if r]
    return {"resourceType": "Bundle",
            "id": resource_id(case.id, f"{RESPONSE_KIND}-bundle", request.id),
            "meta": {"profile": [PAS_RESPONSE_BUNDLE]}, "type": "collection",
            "timestamp": fhir_datetime(created),
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
                      for r in [resp, *others]]}


__all__ = ["ItemResult", "PriorAuthItem", "PriorAuthRequest", "apply_claim_response",
           "claim_id", "claim_response_results", "claim_response_to_fhir", "claim_to_fhir",
           "pas_request_bundle", "pas_request_from_fhir", "pas_response_bundle", "rollup"]
