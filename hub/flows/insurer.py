"""Insurer flows: eligibility (CoverageEligibilityRequest/$submit) and Da Vinci PAS prior
authorization (Claim/$submit), their synchronous answers, pended answers (DOMAIN.md §3.2, §4).

Submitting (``request_eligibility``, ``request_prior_authorization``) is ONE transaction:
the case gets a new version (PAS: each asked service's decision becomes
``authorization-submitted``; eligibility: a note), the request resources are stored in the
FHIR store (the insurer pulling from the hub's API sees them in its compartment), and a
``submit`` delivery to the insurer partner whose Organization the funding source's payer
names (by reference or by identifier, ``hub.partner_match``) is queued. Identifiers are
deterministic per request (UUIDv5 of case id + request id), so a retried delivery re-sends
the same Claim/Bundle identifiers.

Answers, from wherever they come, go through ``apply_pas_response`` /
``apply_eligibility_response_to_case`` (``hub.flows.insurer_answers``):

* the synchronous answer, by the ``submit`` handlers registered below (called by every
  executor after the delivery is done, with the answer kept in the outbox row);
* a pended request's final decision posted to the hub as a Backport notification
  (``hub.routes.notifications``);
* polling (``hub.flows.insurer_polling``): while a request is pended, one ``poll`` outbox
  row per Claim re-reads the insurer's ClaimResponse with
  ``GET [payer]/ClaimResponse?request=Claim/{id}`` (PAS says ``$inquire`` is not for the
  submitter's polling), with the lease, retries and ledger of any delivery.

Applying is idempotent and ordered: the applied answer is kept in the FHIR store under the
hub's id for the request (``ClaimResponse/<uuid5(case, pas-claim-response, request)>``);
the same answer again is a no-op, an answer ``created`` before the applied one is ignored
(a late synchronous "pended" never overwrites a final decision). A concurrent case change
is never lost: a stale case version retries the whole read-apply-write.

Request state is derived, not duplicated: the stored request, the stored answer and the
outbox row (``hub.flows.insurer_status.list_coverage_requests``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub import cases as c
from hub.errors import BusinessRuleFailed, Conflict, NotFound, PreconditionFailed
from hub.fhirjson.strict import require_valid_outgoing
from hub.mappings import eligibility as elig
from hub.mappings import pas
from hub.mappings.coverage import upsert_decision
from hub.mappings.datatypes import local_ref
from hub.mappings.errors import MappingError
from hub.mappings.meta import strip_meta
from hub.partner_match import references_name_partner, token
from hub.store.uow import UnitOfWork
from hub.sync.outbox import enqueue

log = logging.getLogger(__name__)

ELIGIBILITY = "eligibility"
PRIOR_AUTH = "prior-authorization"
ELIGIBILITY_RESPONSE_KIND = "eligibility-response"
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


# --- partners ------------------------------------------------------------------------------

def insurer_partner(partners: Mapping, payer: c.Party | dict | str | None, resources=None,
                    path: str = "funding_id"):
    """The insurer partner whose Organization the payer names: by reference to the partners
    file's ``organization``, by reference to a stored Organization carrying the partner's
    ``organization_identifier`` (a server id, e.g. one a FHIR client created), or by the
    payer's identifier (``hub.partner_match``). ``payer``: the funding source's payer, a FHIR
    Reference (``Claim.insurer``) or a reference string. 422 naming ``path`` if none."""
    ref = _as_reference(payer)
    if not ref.get("reference") and not ref.get("identifier"):
        raise BusinessRuleFailed("the payer of this funding source has no Organization "
                                 "reference or identifier, so no insurer partner can "
                                 "receive the request", path=path)
    found = [p for p in (partners or {}).values() if p.kind == "insurer"
             and references_name_partner(p, [ref], resources)]
    if not found:
        ident = ref.get("identifier") or {}
        target = local_ref(ref["reference"]) if ref.get("reference") else \
            token(ident.get("system"), ident.get("value"))
        raise BusinessRuleFailed(f"no insurer partner is configured for {target}", path=path)
    return sorted(found, key=lambda p: p.id)[0]


def _as_reference(payer: c.Party | dict | str | None) -> dict:
    """A FHIR Reference (``reference``, ``identifier``) of a payer given either way."""
    if isinstance(payer, c.Party):
        out: dict = {}
        if payer.reference:
            out["reference"] = payer.reference
        if payer.identifier is not None and payer.identifier.system and payer.identifier.value:
            out["identifier"] = {"system": payer.identifier.system,
                                 "value": payer.identifier.value}
        return out
    if isinstance(payer, dict):
        return payer
    return {"reference": payer} if payer else {}


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
        if party is None:
            continue
        ref = local_ref(party.reference) if party.reference else None
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
    """Save the case at its next version (``StaleCase`` if someone was first: the caller's
    ``retrying`` re-runs the request) and project it now: the request built next refers to
    the projected resources (the payer Organization, the Coverage)."""
    uow.save_case(case)
    uow.flush()


def request_eligibility(uow: UnitOfWork, case_id: str, funding_id: str, purposes: list[str],
                        services: list[c.Code], *, expected_version: int | None = None,
                        category: c.Code | None = None, serviced=None,
                        provider: c.Party | None = None, by: str | None = None,
                        now: datetime | None = None) -> Submitted:
    """Ask the payer of ``funding_id`` about coverage (CoverageEligibilityRequest/$submit)."""
    case = _open_case(uow, case_id, expected_version)
    funding = _funding(case, funding_id)
    partner = insurer_partner(uow.partners, funding.payer, uow.resources)
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
    require_valid_outgoing(resource)
    stored = uow.resources.update("CoverageEligibilityRequest", resource["id"], resource)
    delivery = enqueue(uow.session, partner_id=partner.id,
                       resource_type="CoverageEligibilityRequest", resource_id=stored.id,
                       operation="submit", payload=strip_meta(stored.content),
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
    partner = insurer_partner(uow.partners, funding.payer, uow.resources)
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
        kwargs: dict[str, Any] = {}
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
    require_valid_outgoing(bundle)
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
