"""Error handlers: OperationOutcome under /fhir, JSON problems elsewhere."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, json, request
from werkzeug.exceptions import HTTPException

from hub.errors import HubError, Issue
from hub.fhir import FHIR_JSON
from hub.observability.safe_errors import safe_trace

bp = Blueprint("errors", __name__)
log = logging.getLogger(__name__)

_HTTP_CODES = {400: "structure", 401: "login", 403: "forbidden", 404: "not-found",
               405: "not-supported", 406: "not-supported", 413: "too-costly",
               415: "not-supported"}


def _is_fhir() -> bool:
    return request.path == "/fhir" or request.path.startswith(("/fhir/", "/notifications/"))


def render_error(err: HubError) -> Response:
    if _is_fhir():
        body, mimetype = err.to_operation_outcome(), FHIR_JSON
    else:
        body, mimetype = err.to_problem(), "application/json"
    resp = Response(json.dumps(body), status=err.status, mimetype=mimetype)
    for key, value in err.headers.items():
        resp.headers[key] = value
    return resp


@bp.app_errorhandler(HubError)
def handle_hub_error(err: HubError):
    return render_error(err)


@bp.app_errorhandler(HTTPException)
def handle_http_error(err: HTTPException):
    wrapped = HubError(err.description or err.name,
                       issues=[Issue(message=err.description or err.name,
                                     code=_HTTP_CODES.get(err.code or 500, "exception"))])
    wrapped.status = err.code or 500
    resp = render_error(wrapped)
    valid_methods = getattr(err, "valid_methods", None)
    if err.code == 405 and valid_methods:
        resp.headers["Allow"] = ", ".join(valid_methods)
    return resp


@bp.app_errorhandler(Exception)
def handle_unexpected(err: Exception):
    # The type and the frames only: messages and request data may hold patient data.
    log.error("unhandled %s on %s %s\n%s", type(err).__name__, request.method, request.path,
              safe_trace(err))
    return render_error(HubError("internal error"))
