"""``POST /notifications/pas``: insurers' Backport subscription notifications (rest-hook).

The body is an R4 notification Bundle (``type=history``; first entry the
``backport-subscription-status-r4`` Parameters; then, with a full-resource payload, the PAS
response Bundle or the ClaimResponse of each event). The caller is an insurer's client,
bound to its Organization, with ``ClaimResponse`` create scope. Each ClaimResponse must be
about a Claim the hub sent to that insurer; it is applied to the case idempotently
(``hub.flows.insurer_answers.apply_pas_response``: the same notification twice changes nothing).
Handshakes and heartbeats are acknowledged. Answers are OperationOutcomes: 200 with one
informational issue per event, 400/415 for an unreadable body, 403 for a client bound to no
(or another) organization, 422 naming the failing path otherwise.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from hub.errors import BadRequest, Forbidden, HubError, UnsupportedMediaType, ValidationFailed
from hub.fhir import FHIR_JSON
from hub.fhirapi.validation import check_strict, load_json
from hub.flows import insurer_answers
from hub.mappings.errors import MappingError
from hub.routes.audit_http import audit_api, saw_case
from hub.routes.guards import check_scope
from hub.store.uow import UnitOfWork

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
audit_api(bp)  # every request of a known caller leaves an AuditEvent (hub.routes.audit_http)


def _outcome(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(json.dumps(body), status=status, mimetype=FHIR_JSON)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


@bp.errorhandler(HubError)
def _fhir_error(err: HubError):
    """Errors of this endpoint are OperationOutcomes, as for the FHIR API."""
    return _outcome(err.to_operation_outcome(), err.status, err.headers)


def _bundle() -> dict:
    if request.mimetype not in (FHIR_JSON, "application/json"):
        raise UnsupportedMediaType("send the notification as application/fhir+json")
    data = load_json(request.get_data() or b"null")
    if data.get("resourceType") != "Bundle":
        raise BadRequest("the body must be a notification Bundle", path="Bundle.resourceType")
    check_strict(data, "the notification")
    return data


def _at(entry: str, path: str) -> str:
    """A path inside the notification: ``Bundle.entry[1].resource`` + ``.outcome``."""
    head, _, rest = path.partition(".")
    return f"{entry}.{rest}" if head in ("ClaimResponse", "Bundle") and rest else entry


@bp.post("/pas")
def pas_notification():
    principal = check_scope("ClaimResponse", "c")
    org = principal.organization
    if not org:
        raise Forbidden("only a client bound to the insurer's Organization may notify")
    data = _bundle()
    try:
        note = insurer_answers.parse_notification(data)
    except MappingError as err:
        raise ValidationFailed(err.message, path=err.path) from None
    db = current_app.extensions["hub.db"]
    partners = current_app.extensions["hub.runtime"].partners
    try:
        insurer_answers.check_notification(db, note, org)
    except MappingError as err:
        raise ValidationFailed(err.message, path=err.path) from None
    issues = []
    for path, answer in note.answers:
        try:
            applied = insurer_answers.apply_pas_response(db, answer, insurer=org, partners=partners)
        except MappingError as err:
            raise ValidationFailed(err.message, path=_at(path, err.path)) from None
        with UnitOfWork(db) as uow:
            case = uow.cases.get(applied.case_id)
        if case is not None:
            saw_case(case)
        text = {"applied": f"applied: prior authorization {applied.state}",
                "duplicate": f"already applied: prior authorization {applied.state}",
                "stale": "older than the answer already applied; ignored"}[applied.result]
        issues.append({"severity": "information", "code": "informational",
                       "diagnostics": text, "expression": [path]})
    if not issues:
        issues = [{"severity": "information", "code": "informational",
                   "diagnostics": f"{note.type} acknowledged"}]
    return _outcome({"resourceType": "OperationOutcome", "issue": issues})
