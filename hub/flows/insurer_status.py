"""The state of a case's coverage requests, derived from the stored request, the stored
answer and the outbox row (nothing is duplicated)."""

from __future__ import annotations

from sqlalchemy import select

from hub import cases as c
from hub.errors import NotFound
from hub.fhirstore.query import parse_search
from hub.flows.insurer import ELIGIBILITY, ELIGIBILITY_RESPONSE_KIND, PRIOR_AUTH
from hub.flows.insurer_answers import eligibility_state, pas_state, request_owner
from hub.mappings import eligibility as elig
from hub.mappings import pas
from hub.mappings.identity import find_hub_identifier, resource_id
from hub.mappings.patient import case_patient_id
from hub.store.sync_tables import outbox
from hub.store.uow import UnitOfWork


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
    _, part = request_owner(request, kind)
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
        asked = elig.eligibility_request_from_fhir(request, case=case)
        out["funding_id"] = asked.funding_id
        out["purposes"] = asked.purposes
        out["services"] = [{"system": s.system, "code": s.code} for s in asked.services]
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
        patient = f"Patient/{case_patient_id(case)}"
        for rtype, kind in (("Claim", pas.KIND), ("CoverageEligibilityRequest", elig.KIND)):
            q = parse_search(rtype, [("patient", patient), ("_count", "1000")], max_count=1000)
            requests += [s.content for s in uow.resources.search(q)
                         if (find_hub_identifier(s.content, kind) or "").startswith(
                             f"{case.id}/")]
    described = [_describe(uow, case, r, deliveries) for r in requests]
    described.sort(key=lambda r: (r["created"] or "", r["id"]))
    return described
