"""Coverage requests of a case: eligibility questions and prior authorizations to insurers.

``POST /api/cases/<id>/eligibility-requests`` and ``POST /api/cases/<id>/prior-authorizations``
store the request and queue its delivery in one transaction (``hub.flows.insurer``) and
answer **202 Accepted**: the insurer is called by the sync worker, never by the route. The
body names the request; ``Location`` is its status link
(``GET /api/cases/<id>/coverage-requests/<request id>``); ``ETag`` is the case's new
version. ``If-Match`` with the case's ETag is required, as for the other case writes.
"""

from __future__ import annotations

from flask import Blueprint, current_app, url_for

from hub.coverage_schemas import EligibilityRequestInputSchema, PriorAuthRequestInputSchema
from hub.errors import NotFound
from hub.etag import weak_etag
from hub.flows import insurer, insurer_status
from hub.routes.audit_http import audit_api, saw_case
from hub.routes.case_input import caller_id, expected_version, load_body, write_case
from hub.routes.guards import refuse_bound_clients, require_scope
from hub.store.uow import UnitOfWork

bp = Blueprint("coverage", __name__, url_prefix="/api/cases")
bp.before_request(refuse_bound_clients)
audit_api(bp)  # every request of a known caller leaves an AuditEvent (hub.routes.audit_http)


def _uow() -> UnitOfWork:
    return UnitOfWork(current_app.extensions["hub.db"],
                      partners=current_app.extensions["hub.runtime"].partners)


def _saw(uow: UnitOfWork, case_id: str) -> int:
    """The case shown (for its AuditEvent; the status lookup found it): its version."""
    case = uow.cases.get(case_id)
    if case is None:
        raise NotFound(f"no case {case_id}")
    saw_case(case)
    return case.version


def _accepted(submitted: insurer.Submitted):
    case = submitted.case
    saw_case(case)
    link = url_for("coverage.read_request", case_id=case.id, request_id=submitted.id)
    body = {"id": submitted.id, "kind": submitted.kind, "state": "submitted",
            "resource": f"{submitted.resource_type}/{submitted.resource_id}",
            "partner": submitted.partner_id, "delivery_id": submitted.delivery_id,
            "case_version": case.version, "status": link}
    resp = current_app.json.response(body)
    resp.status_code = 202
    resp.headers["Location"] = link
    resp.headers["ETag"] = weak_etag(case.version)
    return resp


@bp.post("/<case_id>/eligibility-requests")
@require_scope("Case", "u")
def request_eligibility(case_id: str):
    """Ask the payer of a funding source about coverage; If-Match required; 202."""
    expected = expected_version()
    req = load_body(EligibilityRequestInputSchema())
    submitted = write_case(
        insurer.request_eligibility, case_id, req["funding_id"], req["purposes"],
        req["services"], expected_version=expected, category=req.get("category"),
        serviced=req.get("serviced"), provider=req.get("provider"), by=caller_id())
    return _accepted(submitted)


@bp.post("/<case_id>/prior-authorizations")
@require_scope("Case", "u")
def request_prior_authorization(case_id: str):
    """Ask the payer of a funding source to authorize services (PAS); If-Match required; 202."""
    expected = expected_version()
    req = load_body(PriorAuthRequestInputSchema())
    items = [insurer.ItemInput(**item) for item in req["items"]]
    submitted = write_case(
        insurer.request_prior_authorization, case_id, req["funding_id"], items,
        expected_version=expected, provider=req.get("provider"),
        claim_type=req["claim_type"], priority=req["priority"], by=caller_id())
    return _accepted(submitted)


@bp.get("/<case_id>/coverage-requests")
@require_scope("Case", "r")
def list_requests(case_id: str):
    """The case's coverage requests and their states, oldest first."""
    with _uow() as uow:
        items = insurer_status.list_coverage_requests(uow, case_id)
        version = _saw(uow, case_id)
    resp = current_app.json.response({"items": items, "total": len(items)})
    resp.headers["ETag"] = weak_etag(version)
    return resp


@bp.get("/<case_id>/coverage-requests/<request_id>")
@require_scope("Case", "r")
def read_request(case_id: str, request_id: str):
    """One coverage request and its state (the status link of a 202)."""
    with _uow() as uow:
        found = insurer_status.list_coverage_requests(uow, case_id, request_id)[0]
        _saw(uow, case_id)
    return found
