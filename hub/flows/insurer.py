"""Insurer flows: eligibility (CoverageEligibilityRequest/$submit) and Da Vinci PAS prior
authorization (Claim/$submit), their synchronous answers, pended answers (DOMAIN.md §3.2, §4).

Submitting (``request_eligibility``, ``request_prior_authorization``) is ONE transaction:
the case gets a new version (PAS: each asked service's decision becomes
``authorization-submitted``; eligibility: a note), the request resources are stored in the
FHIR store (the insurer pulling from the hub's API sees them in its compartment), and a
``submit`` delivery to the insurer partner whose ``organization`` is the funding source's
payer reference is queued. Identifiers are deterministic per request (UUIDv5 of case id +
request id), so a retried delivery re-sends the same Claim/Bundle identifiers.

Answers, from wherever they come, go through ``apply_pas_response`` /
``apply_eligibility_response_to_case``:

* the synchronous answer, by the ``submit`` handlers registered below (called by every
  executor after the delivery is done, with the answer kept in the outbox row);
* a pended request's final decision posted to the hub as a Backport notification
  (``hub.routes.notifications``);
* polling (``poll_pended``): the hub re-reads the insurer's ClaimResponse with
  ``GET [payer]/ClaimResponse?request=Claim/{id}`` for requests still pended (PAS says
  ``$inquire`` is not for the submitter's polling). A scheduler calls it.

Applying is idempotent and ordered: the applied answer is kept in the FHIR store under the
hub's id for the request (``ClaimResponse/<uuid5(case, pas-claim-response, request)>``);
the same answer again is a no-op, an answer ``created`` before the applied one is ignored
(a late synchronous "pended" never overwrites a final decision). A concurrent case change
is never lost: a stale case version retries the whole read-apply-write.

Request state is derived, not duplicated: the stored request, the stored answer and the
outbox row (``list_coverage_requests``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from hub import cases as c
from hub.errors import BusinessRuleFailed, Conflict, HubError, NotFound, PreconditionFailed
from hub.fhirapi.query import parse_search
from hub.mappings import eligibility as elig
from hub.mappings import pas
from hub.mappings.codes import hub_naming_system
from hub.mappings.coverage import upsert_decision
from hub.mappings.datatypes import local_ref, parse_datetime
from hub.mappings.errors import MappingError, Report
from hub.mappings.identity import find_hub_identifier, hub_identifier, resource_id
from hub.mappings.patient import patient_id
from hub.projection import project_case
from hub.store.case_repo import StaleCase
from hub.store.resource_repo import VersionConflict
from hub.store.sync_tables import outbox
from hub.store.uow import UnitOfWork
from hub.sync.handlers import on_delivered
from hub.sync.outbox import enqueue

log = logging.getLogger(__name__)

ELIGIBILITY = "eligibility"
PRIOR_AUTH = "prior-authorization"
ELIGIBILITY_RESPONSE_KIND = "eligibility-response"
#: Attempts of one answer's read-apply-write against concurrent case changes.
MAX_ATTEMPTS = 10
_D = c.DecisionStatus
#: Decisions that mean "a request for this service is still open at the payer".
OPEN_AUTHORIZATION = frozenset({_D.AUTH_SUBMITTED, _D.AUTH_PENDED})
#: Request state (DOMAIN.md §3.2 hub state machine) of a rolled-up PAS answer.
PAS_STATE = {
    _D.AUTH_SUBMITTED: "submitted", _D.AUTH_APPROVED: "approved",
    _D.AUTH_PARTIAL: "partially-approved", _D.AUTH_MODIFIED: "modified",
    _D.AUTH_DENIED: "denied", _D.AUTH_PENDED: "pended", _D.AUTH_CANCELLED: "cancelled",
    _D.ERROR: "error",
}


class UnknownRequest(BusinessRuleFailed):
    """An answer that matches no request of the hub sent to that insurer (422)."""


# --- partners -----------------------------------------------------------------------------

_partner_source: Callable[[], Mapping] | None = None


def configure(partners: Callable[[], Mapping] | Mapping | None) -> None:
    """Where handlers (which run outside any app) get the configured partners from, for
    the projection of the case's changed resources: a mapping or a callable returning one.
    None restores the default (the ``HUB_PARTNERS_FILE`` of the environment)."""
    global _partner_source
    if partners is None or callable(partners):
        _partner_source = partners
    else:
        fixed = dict(partners)
        _partner_source = lambda: fixed  # noqa: E731


_default_registry = None


def handler_partners() -> Mapping:
    """The partners for handlers: the configured source, else HUB_PARTNERS_FILE."""
    global _default_registry
    if _partner_source is not None:
        return _partner_source()
    if _default_registry is None:
        from hub.config import Settings
        from hub.sync.registry import Adapters

        _default_registry = Adapters(partners_file=Settings.from_env().partners_file or None)
    return _default_registry.partners


def insurer_partner(partners: Mapping, payer_reference: str | None, path: str = "funding_id"):
    """The insurer partner whose ``organization`` is the payer; 422 naming ``path`` if none."""
    target = local_ref(payer_reference) if payer_reference else None
    if not target:
        raise BusinessRuleFailed("the payer of this funding source has no Organization "
                                 "reference, so no insurer partner can receive the request",
                                 path=path)
    found = [p for p in (partners or {}).values()
             if p.kind == "insurer" and p.organization and local_ref(p.organization) == target]
    if not found:
        raise BusinessRuleFailed(f"no insurer partner is configured for {target}", path=path)
    return sorted(found, key=lambda p: p.id)[0]


# --- submitting ---------------------------------------------------------------------------


@dataclass
class Submitted:
    """What a submission stored and queued."""

    kind: str
    id: str  # the request id (part of the resource ids and hub identifiers)
    resource_type: str
    resource_id: str
    partner_id: str
    delivery_id: int
    case: c.Case


def _open_case(uow: UnitOfWork, case_id: str, expected_version: int | None) -> c.Case:
    case = uow.cases.get(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    if expected_version is not None and case.version != expected_version:
        raise PreconditionFailed(f"case {case_id} has changed since version {expected_version}",
                                 path="If-Match")
    if not case.is_open:
        raise Conflict(f"a {case.status} case cannot request coverage", path="status")
    return case


def _funding(case: c.Case, funding_id: str) -> c.FundingSource:
    funding = next((f for f in case.funding if f.id == funding_id), None)
    if funding is None:
        raise BusinessRuleFailed(f"the case has no funding source {funding_id}",
                                 path="funding_id")
    if funding.status != c.FundingStatus.ACTIVE:
        raise BusinessRuleFailed(f"funding source {funding_id} is {funding.status}",
                                 path="funding_id")
    return funding


def _mapping_failed(err: MappingError, path: str | None = None) -> BusinessRuleFailed:
    return BusinessRuleFailed(err.message, path=path or err.path)


def _minimal_resource(reference: str, party: c.Party) -> dict | None:
    """A stand-in for a referenced party the store does not hold (name and identifier)."""
    rtype, rid = reference.split("/", 1)
    out: dict = {"resourceType": rtype, "id": rid}
    if party.identifier is not None:
        out["identifier"] = [{"system": party.identifier.system,
                              "value": party.identifier.value}]
    if rtype == "Organization":
        out.update(active=True, name=party.name)
    elif rtype == "Practitioner":
        out.update(active=True, name=[{"text": party.name}])
    elif rtype == "PractitionerRole":
        out["active"] = True
    else:
        return None
    return out


def _referenced(uow: UnitOfWork, parties: list[c.Party | None]) -> dict[str, dict]:
    """``Type/id`` -> resource for the parties' references: the stored version, else a
    stand-in that is stored now (the hub's FHIR API then resolves the request's links)."""
    out: dict[str, dict] = {}
    for party in parties:
        ref = local_ref(party.reference) if party is not None and party.reference else None
        if not ref or ref.count("/") != 1 or ref in out:
            continue
        rtype, rid = ref.split("/")
        stored = uow.resources.read(rtype, rid)
        if stored is not None and not stored.deleted:
            out[ref] = stored.content
            continue
        stand_in = _minimal_resource(ref, party)
        if stand_in is not None:
            out[ref] = uow.resources.update(rtype, rid, stand_in).content
    return out


def _bump(uow: UnitOfWork, case: c.Case) -> None:
    """Store the case at its next version (412 if someone was first) and project it."""
    expected = case.version
    case.version = expected + 1
    try:
        uow.cases.update(case, expected_version=expected)
    except StaleCase:
        raise PreconditionFailed(f"case {case.id} has changed since version {expected}",
                                 path="If-Match") from None
    project_case(uow, case, uow.partners)


def _without_server_meta(resource: dict) -> dict:
    out = dict(resource)
    meta = {k: v for k, v in (out.get("meta") or {}).items()
            if k not in ("versionId", "lastUpdated")}
    out.pop("meta", None)
    if meta:
        out = {"resourceType": out["resourceType"], "id": out["id"], "meta": meta,
               **{k: v for k, v in out.items() if k not in ("resourceType", "id")}}
    return out


def request_eligibility(uow: UnitOfWork, case_id: str, funding_id: str, purposes: list[str],
                        services: list[c.Code], *, expected_version: int | None = None,
                        category: c.Code | None = None, serviced=None,
                        provider: c.Party | None = None, by: str | None = None,
                        now: datetime | None = None) -> Submitted:
    """Ask the payer of ``funding_id`` about coverage (CoverageEligibilityRequest/$submit)."""
    case = _open_case(uow, case_id, expected_version)
    funding = _funding(case, funding_id)
    partner = insurer_partner(uow.partners, funding.payer.reference)
    request = elig.EligibilityRequest(
        funding_id=funding.id, created=now or c.utcnow(), purposes=list(purposes or []),
        services=list(services or []), category=category, serviced=serviced,
        provider=provider, id=c.new_id())
    try:
        resource = elig.eligibility_request_to_fhir(case, request)
    except MappingError as err:
        raise _mapping_failed(err, "purposes" if err.path.endswith("purpose") else None) \
            from None
    asked = ", ".join(s.code for s in request.services) or "coverage"
    case.notes.append(c.Note(text=f"Eligibility request {request.id} sent to "
                                  f"{funding.payer.name} ({', '.join(request.purposes)}: "
                                  f"{asked})", author=by))
    _bump(uow, case)
    _referenced(uow, [funding.payer, provider])
    stored = uow.resources.update("CoverageEligibilityRequest", resource["id"], resource)
    delivery = enqueue(uow.session, partner_id=partner.id,
                       resource_type="CoverageEligibilityRequest", resource_id=stored.id,
                       operation="submit", payload=_without_server_meta(stored.content),
                       case_id=case.id, resource_version=str(stored.version_id),
                       options={"operation": "$submit"})
    uow.commit()
    log.info("eligibility request %s of case %s queued for %s (delivery #%s)", request.id,
             case.id, partner.id, delivery)
    return Submitted(ELIGIBILITY, request.id, "CoverageEligibilityRequest", stored.id,
                     partner.id, delivery, case)


@dataclass
class ItemInput:
    """One service asked for prior authorization (the API's item)."""

    service: c.Code
    category: c.Code | None = None
    location: c.Code | None = None
    quantity: int | None = None
    period: c.Period | None = None


def request_prior_authorization(uow: UnitOfWork, case_id: str, funding_id: str,
                                items: list[ItemInput | pas.PriorAuthItem | dict], *,
                                expected_version: int | None = None,
                                provider: c.Party | None = None,
                                claim_type: str = "professional", priority: str = "normal",
                                by: str | None = None, now: datetime | None = None) -> Submitted:
    """Ask the payer of ``funding_id`` to authorize ``items`` (PAS Claim/$submit).

    Each item's decision on the funding source becomes ``authorization-submitted``; a
    service whose authorization is still submitted or pended is refused (409): PAS updates
    go through a Claim-update, not a second request. ``provider`` defaults to the case
    manager.
    """
    case = _open_case(uow, case_id, expected_version)
    funding = _funding(case, funding_id)
    partner = insurer_partner(uow.partners, funding.payer.reference)
    provider = provider or case.case_manager
    if provider is None:
        raise BusinessRuleFailed("a prior authorization needs a provider (or a case manager)",
                                 path="provider")
    if not items:
        raise BusinessRuleFailed("a prior authorization needs at least one item", path="items")
    request_id = c.new_id()
    pa_items: list[pas.PriorAuthItem] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(items):
        item = ItemInput(**raw) if isinstance(raw, dict) else raw
        key = (item.service.system, item.service.code)
        if key in seen:
            raise BusinessRuleFailed("the same service is asked twice", path=f"items.{i}.service")
        seen.add(key)
        current = next((d for d in funding.decisions
                        if (d.service.system, d.service.code) == key), None)
        if current is not None and current.status in OPEN_AUTHORIZATION:
            raise Conflict(f"an authorization of {item.service.code} is already "
                           f"{current.status}", path=f"items.{i}.service")
        decision = upsert_decision(funding, c.CoverageDecision(
            service=item.service, status=_D.AUTH_SUBMITTED, period=item.period,
            quantity=item.quantity, note=f"prior authorization request {request_id}"))
        kwargs = {}
        if isinstance(item, pas.PriorAuthItem):
            pa = item
            pa.decision_id = decision.id
        else:
            if item.category is not None:
                kwargs["category"] = item.category
            if item.location is not None:
                kwargs["location"] = item.location
            pa = pas.PriorAuthItem(decision_id=decision.id, service=item.service,
                                   quantity=item.quantity, period=item.period, **kwargs)
        pa_items.append(pa)
    request = pas.PriorAuthRequest(funding_id=funding.id, created=now or c.utcnow(),
                                   provider=provider, items=pa_items, claim_type=claim_type,
                                   priority=priority, id=request_id)
    _bump(uow, case)
    try:
        bundle = pas.pas_request_bundle(case, request,
                                        resources=_referenced(uow, [funding.payer, provider]))
    except MappingError as err:
        raise _mapping_failed(err) from None
    claim = bundle["entry"][0]["resource"]
    stored = uow.resources.update("Claim", claim["id"], claim)
    for entry in bundle["entry"][1:]:  # the request's own parts (provider stand-in)
        res = entry["resource"]
        if uow.resources.read(res["resourceType"], res["id"]) is None:
            uow.resources.update(res["resourceType"], res["id"], res)
    delivery = enqueue(uow.session, partner_id=partner.id, resource_type="Claim",
                       resource_id=stored.id, operation="submit", payload=bundle,
                       case_id=case.id, resource_version=str(stored.version_id),
                       options={"operation": "$submit"})
    uow.commit()
    log.info("prior authorization %s of case %s (%d items) queued for %s (delivery #%s)",
             request.id, case.id, len(pa_items), partner.id, delivery)
    return Submitted(PRIOR_AUTH, request.id, "Claim", stored.id, partner.id, delivery, case)


# --- answers ------------------------------------------------------------------------------


@dataclass
class Applied:
    """What became of one answer: ``applied``, ``duplicate`` (already applied) or
    ``stale`` (older than the applied answer; ignored)."""

    result: str
    case_id: str
    request_id: str
    state: str
    case_version: int
    report: Report = field(default_factory=Report)


def first_of(data: dict, resource_type: str, path: str = "Bundle") -> dict:
    """The resource itself, or the first entry of a Bundle that must be of that type."""
    if not isinstance(data, dict):
        raise MappingError(path, "not a JSON object")
    if data.get("resourceType") == resource_type:
        return data
    if data.get("resourceType") != "Bundle":
        raise MappingError(f"{path}.resourceType", f"expected a {resource_type} or a Bundle")
    entries = data.get("entry") or []
    first = (entries[0].get("resource") or {}) if entries else {}
    if first.get("resourceType") != resource_type:
        raise MappingError(f"{path}.entry[0]", f"the first entry must be the {resource_type}")
    return first


def _request_of(uow: UnitOfWork, resp: dict, rtype: str, kind: str, known_id: str | None,
                path: str) -> dict:
    """The stored request (``rtype``) an answer is about: ``known_id`` (the delivery's), else
    ``resp.request`` by reference or by the hub identifier."""
    ref = resp.get("request") or {}
    candidates = []
    target = local_ref(ref.get("reference"))
    if target and target.startswith(f"{rtype}/") and target.count("/") == 1:
        candidates.append(target.split("/", 1)[1])
    ident = ref.get("identifier") or {}
    if ident.get("system") == hub_naming_system(kind) and "/" in (ident.get("value") or ""):
        case_id, part = ident["value"].split("/", 1)
        candidates.append(resource_id(case_id, kind, part))
    if known_id is not None:
        if candidates and known_id not in candidates:
            raise MappingError(f"{path}.request", f"answers another {rtype}")
        candidates = [known_id]
    for rid in candidates:
        stored = uow.resources.read(rtype, rid)
        if stored is not None and not stored.deleted \
                and find_hub_identifier(stored.content, kind):
            return stored.content
    raise UnknownRequest(f"the {rtype} this answer is about is not a request of the hub",
                         path=f"{path}.request")


def _owner(request: dict, kind: str) -> tuple[str, str]:
    value = find_hub_identifier(request, kind) or ""
    case_id, _, part = value.partition("/")
    return case_id, part


def _response_copy(resp: dict, rid: str, request: dict, kind: str, response_kind: str,
                   case_id: str, part: str) -> dict:
    """The answer as the hub keeps it: under the hub's id for the request, linked to it."""
    copy = {k: v for k, v in resp.items() if k not in ("id", "meta")}
    profile = (resp.get("meta") or {}).get("profile")
    out: dict = {"resourceType": resp["resourceType"], "id": rid}
    if profile:
        out["meta"] = {"profile": list(profile)}
    ours = hub_identifier(case_id, response_kind, part)
    idents = [i for i in copy.pop("identifier", None) or [] if i != ours]
    out["identifier"] = [*idents, ours]
    out.update(copy)
    out["request"] = {"reference": f"{request['resourceType']}/{request['id']}",
                      "identifier": hub_identifier(case_id, kind, part)}
    return out


def _same(stored: dict, new: dict) -> bool:
    strip = lambda r: {k: v for k, v in r.items() if k != "meta"}  # noqa: E731
    return strip(stored) == strip(new) and \
        (stored.get("meta") or {}).get("profile") == (new.get("meta") or {}).get("profile")


def _older(new: dict, stored: dict, path: str) -> bool:
    a = parse_datetime(new.get("created"), f"{path}.created")
    b = parse_datetime(stored.get("created"), f"{path}.created")
    return a is not None and b is not None and a < b


def _retrying(db, partners, work: Callable[[UnitOfWork], Applied]) -> Applied:
    """Run ``work`` in a fresh unit of work until no concurrent change got in between."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            with UnitOfWork(db, partners=partners) as uow:
                return work(uow)
        except (StaleCase, VersionConflict, IntegrityError, OperationalError) as exc:
            log.info("answer: concurrent change (%s), retrying", type(exc).__name__)
            time.sleep(min(0.5, 0.01 * 2 ** attempt) * random.random())
    raise Conflict("the case kept changing while applying the insurer's answer; retry")


def pas_state(response: dict) -> str:
    """The request state of a PAS answer (``submitted`` when it decides nothing)."""
    statuses = [r.status for r in pas.claim_response_results(response)]
    if not statuses and first_of(response, "ClaimResponse").get("outcome") == "error":
        return "error"
    return PAS_STATE.get(pas.rollup(statuses), "partially-approved")


def apply_pas_response(db, data: dict, *, claim_id: str | None = None, insurer: str | None = None,
                       partners: Mapping | None = None) -> Applied:
    """Apply a PAS answer (response Bundle or ClaimResponse) to the case of its Claim.

    ``claim_id``: the Claim the answer must be about (a delivery's); else it is found from
    ``ClaimResponse.request``. ``insurer``: the Organization the answer comes from; the
    Claim must have been sent to it (else UnknownRequest). Idempotent, see the module doc.
    """
    partners = handler_partners() if partners is None else partners
    resp = first_of(data, "ClaimResponse")
    if resp.get("use") != "preauthorization":
        raise MappingError("ClaimResponse.use", "not a prior-authorization response")

    def work(uow: UnitOfWork) -> Applied:
        claim = _request_of(uow, resp, "Claim", pas.KIND, claim_id, "ClaimResponse")
        _check_sender(claim, resp, insurer, "ClaimResponse")
        case_id, part = _owner(claim, pas.KIND)
        case = uow.cases.get(case_id)
        if case is None:
            raise UnknownRequest("the case of this request is gone", path="ClaimResponse.request")
        request = pas.pas_request_from_fhir(claim, case=case)
        rid = resource_id(case.id, pas.RESPONSE_KIND, part)
        copy = _response_copy(resp, rid, claim, pas.KIND, pas.RESPONSE_KIND, case.id, part)
        state = pas_state(copy)
        prev = uow.resources.read("ClaimResponse", rid)
        if prev is not None and not prev.deleted:
            if _same(prev.content, copy):
                return Applied("duplicate", case.id, part, state, case.version)
            if _older(copy, prev.content, "ClaimResponse"):
                return Applied("stale", case.id, part, pas_state(prev.content), case.version)
        report = pas.apply_claim_response(case, copy, request)
        expected = case.version
        case.version = expected + 1
        uow.cases.update(case, expected_version=expected)  # StaleCase: retried
        uow.resources.update("ClaimResponse", rid, copy)
        project_case(uow, case, partners)
        uow.commit()
        log.info("prior authorization %s of case %s: %s (case version %s)", part, case.id,
                 state, case.version)
        return Applied("applied", case.id, part, state, case.version, report)

    return _retrying(db, partners, work)


def _check_sender(request: dict, resp: dict, insurer: str | None, path: str) -> None:
    """An answer sent by ``insurer`` must name it and be about a request sent to it."""
    if insurer is None:
        return
    if local_ref((request.get("insurer") or {}).get("reference")) != local_ref(insurer):
        raise UnknownRequest(f"the {request['resourceType']} this answer is about is not a "
                             "request of the hub", path=f"{path}.request")
    if local_ref((resp.get("insurer") or {}).get("reference")) != local_ref(insurer):
        raise BusinessRuleFailed("the answer must name the notifying insurer",
                                 path=f"{path}.insurer")


def eligibility_state(response: dict) -> str:
    return {"complete": "complete", "partial": "partial", "error": "error",
            "queued": "queued"}.get(response.get("outcome"), "submitted")


def apply_eligibility_response_to_case(db, data: dict, *, request_id: str | None = None,
                                       insurer: str | None = None,
                                       partners: Mapping | None = None) -> Applied:
    """Apply a CoverageEligibilityResponse to the case of its request (idempotent)."""
    partners = handler_partners() if partners is None else partners
    resp = first_of(data, "CoverageEligibilityResponse")

    def work(uow: UnitOfWork) -> Applied:
        request = _request_of(uow, resp, "CoverageEligibilityRequest", elig.KIND, request_id,
                              "CoverageEligibilityResponse")
        _check_sender(request, resp, insurer, "CoverageEligibilityResponse")
        case_id, part = _owner(request, elig.KIND)
        case = uow.cases.get(case_id)
        if case is None:
            raise UnknownRequest("the case of this request is gone",
                                 path="CoverageEligibilityResponse.request")
        req = elig.eligibility_request_from_fhir(request, case=case)
        rid = resource_id(case.id, ELIGIBILITY_RESPONSE_KIND, part)
        copy = _response_copy(resp, rid, request, elig.KIND, ELIGIBILITY_RESPONSE_KIND,
                              case.id, part)
        state = eligibility_state(copy)
        prev = uow.resources.read("CoverageEligibilityResponse", rid)
        if prev is not None and not prev.deleted:
            if _same(prev.content, copy):
                return Applied("duplicate", case.id, part, state, case.version)
            if _older(copy, prev.content, "CoverageEligibilityResponse"):
                return Applied("stale", case.id, part, eligibility_state(prev.content),
                               case.version)
        report = elig.apply_eligibility_response(case, copy, request=req)
        expected = case.version
        case.version = expected + 1
        uow.cases.update(case, expected_version=expected)
        uow.resources.update("CoverageEligibilityResponse", rid, copy)
        project_case(uow, case, partners)
        uow.commit()
        log.info("eligibility request %s of case %s: %s (case version %s)", part, case.id,
                 state, case.version)
        return Applied("applied", case.id, part, state, case.version, report)

    return _retrying(db, partners, work)


def _answer_body(delivery, outcome) -> dict | None:
    body = getattr(outcome, "response", None) or getattr(delivery, "response", None)
    return body if isinstance(body, dict) else None


@on_delivered("submit", "Claim")
def on_pas_submitted(db, delivery, outcome) -> None:
    """The synchronous PAS answer of a delivered ``Claim/$submit``."""
    body = _answer_body(delivery, outcome)
    if body is None or body.get("resourceType") == "OperationOutcome":
        log.warning("delivery #%s: the insurer answered $submit without a ClaimResponse; "
                    "the request stays submitted", delivery.id)
        return
    applied = apply_pas_response(db, body, claim_id=delivery.resource_id)
    log.info("delivery #%s: PAS answer %s (%s)", delivery.id, applied.result, applied.state)


@on_delivered("submit", "CoverageEligibilityRequest")
def on_eligibility_submitted(db, delivery, outcome) -> None:
    """The synchronous answer of a delivered ``CoverageEligibilityRequest/$submit``."""
    body = _answer_body(delivery, outcome)
    if body is None or body.get("resourceType") == "OperationOutcome":
        log.warning("delivery #%s: the insurer answered $submit without a "
                    "CoverageEligibilityResponse", delivery.id)
        return
    applied = apply_eligibility_response_to_case(db, body, request_id=delivery.resource_id)
    log.info("delivery #%s: eligibility answer %s (%s)", delivery.id, applied.result,
             applied.state)


# --- notifications (Backport, R4) -----------------------------------------------------------

PAS_TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
NOTIFICATION_TYPES = ("handshake", "heartbeat", "event-notification", "query-status",
                      "query-event")


@dataclass
class Notification:
    """A parsed subscription notification: its type and the PAS answers it carries."""

    type: str
    topic: str | None
    answers: list[tuple[str, dict]]  # (path, response Bundle or ClaimResponse)


def parse_notification(bundle) -> Notification:
    """Read a Backport R4 notification Bundle (``history``, Parameters first); MappingError
    names the failing path."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise MappingError("Bundle", "a notification is a Bundle")
    if bundle.get("type") != "history":
        raise MappingError("Bundle.type", "a notification Bundle has type history")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise MappingError("Bundle.entry", "a notification starts with its status Parameters")
    status = (entries[0] or {}).get("resource") or {}
    if status.get("resourceType") != "Parameters":
        raise MappingError("Bundle.entry[0].resource",
                           "the first entry must be the subscription status Parameters")
    params = {p.get("name"): p for p in status.get("parameter") or [] if isinstance(p, dict)}
    kind = (params.get("type") or {}).get("valueCode")
    if kind not in NOTIFICATION_TYPES:
        raise MappingError("Bundle.entry[0].resource.parameter[type]",
                           f"unknown notification type {kind!r}")
    topic = (params.get("topic") or {}).get("valueCanonical") or \
        (params.get("topic") or {}).get("valueUri")
    if topic is not None and topic.split("|")[0] != PAS_TOPIC:
        raise MappingError("Bundle.entry[0].resource.parameter[topic]",
                           "not the PAS subscription topic")
    answers = []
    for i, entry in enumerate(entries[1:], start=1):
        res = (entry or {}).get("resource") if isinstance(entry, dict) else None
        if not isinstance(res, dict):
            continue  # id-only payloads carry no resource
        path = f"Bundle.entry[{i}].resource"
        if res.get("resourceType") == "ClaimResponse":
            answers.append((path, res))
        elif res.get("resourceType") == "Bundle":
            try:
                first_of(res, "ClaimResponse", path)
            except MappingError:
                continue  # some other Bundle the insurer included
            answers.append((path, res))
    if kind in ("event-notification", "query-event") and not answers:
        raise MappingError("Bundle.entry", "the notification carries no ClaimResponse "
                           "(full-resource payload expected)")
    return Notification(kind, topic, answers)


def check_notification(db, note: Notification, insurer: str) -> None:
    """Refuse (before applying anything) answers not about a request sent to ``insurer``."""
    with UnitOfWork(db) as uow:
        for path, data in note.answers:
            resp = first_of(data, "ClaimResponse", path)
            try:
                claim = _request_of(uow, resp, "Claim", pas.KIND, None, "ClaimResponse")
                _check_sender(claim, resp, insurer, "ClaimResponse")
            except HubError as err:
                for issue in err.issues:
                    if issue.path and issue.path.startswith("ClaimResponse"):
                        issue.path = path + issue.path[len("ClaimResponse"):]
                raise


# --- polling ------------------------------------------------------------------------------


def pended_requests(db, limit: int = 100, older_than: timedelta = timedelta(0),
                    now: datetime | None = None) -> list[tuple[str, str, str]]:
    """(case id, Claim id, insurer reference) of PAS requests whose applied answer is
    pended and was applied at least ``older_than`` ago."""
    now = now or datetime.now(timezone.utc)
    system = hub_naming_system(pas.RESPONSE_KIND)
    q = parse_search("ClaimResponse", [("identifier", f"{system}|"), ("_count", "1000")],
                     max_count=1000)
    out = []
    with UnitOfWork(db) as uow:
        for stored in uow.resources.search(q):
            try:
                if pas_state(stored.content) != "pended":
                    continue
            except MappingError:
                continue
            applied = stored.last_updated
            if applied.tzinfo is None:
                applied = applied.replace(tzinfo=timezone.utc)
            if now - applied < older_than:
                continue
            claim = local_ref((stored.content.get("request") or {}).get("reference")) or ""
            insurer = (stored.content.get("insurer") or {}).get("reference")
            case_id, _ = _owner(stored.content, pas.RESPONSE_KIND)
            out.append((case_id, claim.split("/", 1)[-1], insurer))
            if len(out) >= limit:
                break
    return out


def poll_pended(db, adapters, *, partners: Mapping | None = None,
                older_than: timedelta = timedelta(0), limit: int = 100) -> list[Applied]:
    """Re-read the insurer's ClaimResponse of each pended request and apply what changed.

    ``GET [payer]/ClaimResponse?request=Claim/{id}``, the newest answer (by ``created``)
    wins; errors of one insurer are logged and do not stop the others. Meant to be run by
    a scheduler (every few minutes) as a fallback to the insurer's notifications.
    """
    partners = getattr(adapters, "partners", None) if partners is None else partners
    results: list[Applied] = []
    for case_id, claim_id, insurer in pended_requests(db, limit, older_than):
        try:
            partner = insurer_partner(partners, insurer, path="ClaimResponse.insurer")
            found = list(adapters.get(partner.id).search(
                "ClaimResponse", {"request": f"Claim/{claim_id}"}))
        except Exception as exc:  # noqa: BLE001 - one insurer's trouble stops no one
            log.warning("polling Claim/%s of case %s failed: %s", claim_id, case_id,
                        type(exc).__name__)
            continue
        answers = [r for r in found if r.get("resourceType") == "ClaimResponse"]
        if not answers:
            continue
        newest = max(answers, key=lambda r: r.get("created") or "")
        try:
            results.append(apply_pas_response(db, newest, claim_id=claim_id,
                                              insurer=insurer, partners=partners))
        except (HubError, MappingError) as exc:
            log.warning("polled answer for Claim/%s not applied: %s", claim_id,
                        type(exc).__name__)
    return results


# --- request states -----------------------------------------------------------------------


def _deliveries(uow: UnitOfWork, case_id: str) -> dict[tuple[str, str], dict]:
    rows = uow.session.execute(select(outbox).where(
        outbox.c.case_id == case_id, outbox.c.operation == "submit",
        outbox.c.resource_type.in_(("Claim", "CoverageEligibilityRequest"))
    ).order_by(outbox.c.id)).all()
    out = {}
    for row in rows:
        m = row._mapping
        out[(m["resource_type"], m["resource_id"])] = {
            "id": m["id"], "partner": m["partner_id"], "status": m["status"],
            "attempts": m["attempts"], "last_status": m["last_status"],
            "last_error": (m["last_error"] or "").splitlines()[0] if m["last_error"] else None}
    return out


def _describe(uow: UnitOfWork, case: c.Case, request: dict, deliveries: dict) -> dict:
    rtype = request["resourceType"]
    kind = pas.KIND if rtype == "Claim" else elig.KIND
    _, part = _owner(request, kind)
    delivery = deliveries.get((rtype, request["id"]))
    out: dict = {"id": part, "kind": PRIOR_AUTH if rtype == "Claim" else ELIGIBILITY,
                 "resource": f"{rtype}/{request['id']}", "created": request.get("created"),
                 "partner": delivery["partner"] if delivery else None,
                 "delivery": delivery}
    if rtype == "Claim":
        rid, rrtype = resource_id(case.id, pas.RESPONSE_KIND, part), "ClaimResponse"
    else:
        rid, rrtype = resource_id(case.id, ELIGIBILITY_RESPONSE_KIND, part), \
            "CoverageEligibilityResponse"
    answer = uow.resources.read(rrtype, rid)
    answer = answer.content if answer is not None and not answer.deleted else None
    if answer is not None:
        out["state"] = pas_state(answer) if rtype == "Claim" else eligibility_state(answer)
        out["response"] = f"{rrtype}/{rid}"
        out["answered"] = answer.get("created")
    else:
        out["state"] = "error" if delivery and delivery["status"] == "dead" else "submitted"
        out["response"] = None
        out["answered"] = None
    if rtype == "Claim":
        req = pas.pas_request_from_fhir(request, case=case)
        out["funding_id"] = req.funding_id
        decisions = {d.id: d for f in case.funding for d in f.decisions}
        out["items"] = []
        for seq, item in enumerate(req.items, start=1):
            d = decisions.get(item.decision_id)
            out["items"].append({
                "sequence": seq, "decision_id": item.decision_id,
                "service": {"system": item.service.system, "code": item.service.code},
                "status": d.status.value if d else None,
                "authorization_number": d.authorization_number if d else None,
                "period": ({"start": d.period.start and d.period.start.isoformat(),
                            "end": d.period.end and d.period.end.isoformat()}
                           if d and d.period else None)})
    else:
        req = elig.eligibility_request_from_fhir(request, case=case)
        out["funding_id"] = req.funding_id
        out["purposes"] = req.purposes
        out["services"] = [{"system": s.system, "code": s.code} for s in req.services]
    return out


def list_coverage_requests(uow: UnitOfWork, case_id: str,
                           request_id: str | None = None) -> list[dict]:
    """The case's eligibility and prior-authorization requests with their states, oldest
    first (or the one ``request_id``, NotFound if it is not a request of the case)."""
    case = uow.cases.get(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    deliveries = _deliveries(uow, case.id)
    requests: list[dict] = []
    if request_id is not None:
        for rtype, kind in (("Claim", pas.KIND), ("CoverageEligibilityRequest", elig.KIND)):
            stored = uow.resources.read(rtype, resource_id(case.id, kind, request_id))
            if stored is not None and not stored.deleted:
                requests.append(stored.content)
        if not requests:
            raise NotFound(f"no coverage request {request_id} on case {case_id}")
    else:
        patient = f"Patient/{patient_id(case.id)}"
        for rtype, kind in (("Claim", pas.KIND), ("CoverageEligibilityRequest", elig.KIND)):
            q = parse_search(rtype, [("patient", patient), ("_count", "1000")], max_count=1000)
            requests += [s.content for s in uow.resources.search(q)
                         if (find_hub_identifier(s.content, kind) or "").startswith(
                             f"{case.id}/")]
    described = [_describe(uow, case, r, deliveries) for r in requests]
    described.sort(key=lambda r: (r["created"] or "", r["id"]))
    return described


__all__ = ["Applied", "ItemInput", "Notification", "Submitted", "UnknownRequest",
           "apply_eligibility_response_to_case", "apply_pas_response", "check_notification",
           "configure", "insurer_partner", "list_coverage_requests", "parse_notification",
           "pas_state", "poll_pended", "request_eligibility", "request_prior_authorization"]
