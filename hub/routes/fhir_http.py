"""HTTP details of the FHIR API: media types, _format, Prefer, If-Match, responses.

The Flask side of ``hub.fhirapi``: request headers become plain values for the
interactions, and their results become responses (ETag, Last-Modified, Location).
"""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime

from flask import Response, request

from hub.audit.events import RequestInfo
from hub.errors import HubError, UnsupportedMediaType
from hub.fhir import FHIR_JSON
from hub.fhirapi.context import FhirRunner
from hub.fhirapi.hooks import finish_hooks, write_hooks
from hub.fhirapi.interactions import if_match_version
from hub.fhirapi.validation import load_json
from hub.fhirjson import codec
from hub.fhirstore.repository import StoredResource
from hub.routes.current import this_app, this_request
from hub.routes.hosts import server_root

JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
_FORMATS = JSON_TYPES | {"json"}


class NotAcceptable(HubError):
    status, code = 406, "not-supported"


def runner() -> FhirRunner:
    """The interaction runner of this app (database, write hooks, page sizes)."""
    app = this_app()
    settings = app.extensions["hub.settings"]
    return FhirRunner(app.extensions["hub.db"], write_hooks(app),
                      settings.page_size_default, settings.page_size_max,
                      finish_hooks(app))


def format_mime(fmt: str) -> str:
    """The media type of a ``_format`` value, lower case and without parameters. A literal
    ``+`` not percent-encoded arrives as a space (``application/fhir json``): read as ``+``."""
    mime = fmt.split(";")[0].strip().lower()
    return "+".join(mime.split())


def request_info() -> RequestInfo:
    """What the audit log keeps of this request: address, request id, method, path and
    query string (never the body)."""
    req = this_request()
    path = req.path.split("/fhir", 1)[-1].strip("/")
    return RequestInfo(address=req.remote_addr,
                       request_id=req.headers.get("X-Request-Id"),
                       method=req.method, path=path,
                       query=req.query_string.decode("utf-8", "replace"),
                       server=base_url())


def check_format() -> None:
    """406 unless the client accepts JSON (``_format`` wins over ``Accept``)."""
    req = this_request()
    fmt = req.args.get("_format")
    if fmt is not None:
        if format_mime(fmt) not in _FORMATS:
            raise NotAcceptable(f"_format {fmt!r} is not supported: this server speaks JSON")
        return
    accept = req.headers.get("Accept")
    if accept and not any(m in accept for m in (*JSON_TYPES, "*/*", "application/*")):
        raise NotAcceptable("this server answers application/fhir+json only")


def json_body() -> dict | list:
    """The parsed body of a write; 415 for a non-JSON content type, 400 if malformed."""
    req = this_request()
    mimetype = (req.mimetype or "").lower()
    if mimetype not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"content type {req.content_type or '(none)'} is not supported; "
            "send application/fhir+json")
    return load_json(req.get_data())


def if_match() -> int | None:
    """The version named by the ``If-Match`` header (400 if it names none)."""
    return if_match_version(request.headers.get("If-Match"))


def prefer(name: str) -> str | None:
    """A token of the Prefer header (``return``, ``handling``)."""
    for part in this_request().headers.get("Prefer", "").split(";"):
        for item in part.split(","):
            key, _, val = item.strip().partition("=")
            if key.strip() == name:
                return val.strip().strip('"')
    return None


def base_url() -> str:
    """The absolute FHIR base (``settings.base_url`` or this request's host) + /fhir."""
    return server_root() + "/fhir"


def fhir_response(body: dict | codec.Raw | None, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    resp = Response(codec.dumps(body) if body is not None else b"",
                    status=status, mimetype=FHIR_JSON)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    if body is None:
        resp.headers.pop("Content-Type", None)
    return resp


def version_headers(res: StoredResource, location: bool = False) -> dict[str, str]:
    """ETag, Last-Modified and (for writes) Location of a stored version."""
    headers = {"ETag": res.etag,
               "Last-Modified": format_datetime(res.last_updated.replace(
                   tzinfo=UTC), usegmt=True)}
    if location:
        headers["Location"] = f"{base_url()}/{res.type}/{res.id}/_history/{res.version_id}"
    return headers


def information_outcome(message: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational",
                       "diagnostics": message}]}


def write_response(res: StoredResource, status: int, message: str) -> Response:
    """The answer to a create/update, honouring ``Prefer: return=``."""
    headers = version_headers(res, location=True)
    want = prefer("return") or "representation"
    if want == "minimal":
        return fhir_response(None, status, headers)
    if want == "OperationOutcome":
        return fhir_response(information_outcome(message), status, headers)
    return fhir_response(res.written(), status, headers)
