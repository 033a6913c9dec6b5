"""The FHIR R4 API under ``/fhir`` (thin: the work is in ``hub.fhirapi``).

The only Flask part of the FHIR API, with ``hub.routes.fhir_http`` (headers, responses).
Every route but ``/metadata`` needs a bearer token; the caller is passed to each
interaction, which checks its scope. Errors are ``HubError``s rendered as
OperationOutcome by ``hub.routes.errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl

from flask import Blueprint, request

from hub.errors import BadRequest, NotFound, UnsupportedMediaType
from hub.fhirapi import bundles, everything
from hub.fhirapi import interactions as ia
from hub.fhirapi import subscription_status as subscription_status_op
from hub.fhirapi.capability import capability_statement
from hub.fhirapi.interactions import Ctx
from hub.fhirapi.search import history_bundle, search
from hub.fhirapi.subsetting import subset_read
from hub.fhirjson import codec
from hub.fhirstore.repository import StoredResource
from hub.routes.current import this_request
from hub.routes.fhir_http import (
    base_url,
    check_format,
    fhir_response,
    if_match,
    information_outcome,
    json_body,
    prefer,
    request_info,
    runner,
    version_headers,
    write_response,
)
from hub.routes.guards import current_principal

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
T = TypeVar("T")


def _resource_body() -> dict[str, Any]:
    """The body of a create or update; one that is no JSON object is refused by the
    interaction's validation (with its OperationOutcome)."""
    return cast(dict[str, Any], json_body())


def _stored(result: ia.Result) -> StoredResource:
    """The version a read or write produced (every one of them produces one)."""
    if result.resource is None:
        raise RuntimeError(f"the interaction produced no resource ({result.message})")
    return result.resource


@bp.before_request
def _authenticate_and_negotiate():
    check_format()
    if this_request().endpoint != "fhir.metadata":
        current_principal()


def run_read(fn: Callable[[Ctx], T]) -> T:
    """``fn(ctx)`` for this request's caller, read-only."""
    return runner().read(current_principal(), fn, request_info())


def run_write(fn: Callable[[Ctx], T]) -> T:
    """``fn(ctx)`` for this request's caller, in one committed transaction."""
    return runner().write(current_principal(), fn, request_info())


def _strict() -> bool:
    return prefer("handling") == "strict"


def _query_items() -> list[tuple[str, str]]:
    return parse_qsl(this_request().query_string.decode("utf-8", "replace"),
                     keep_blank_values=True)


def _read_body(res: StoredResource) -> dict | codec.Raw | None:
    """A read's answer: the stored text as is, or the subset ``_summary``/``_elements``
    ask for (then the content is parsed)."""
    items = _query_items()
    if any(key in ("_summary", "_elements") for key, _ in items):
        return subset_read(res.content, items)
    return res.json()


@bp.get("/metadata")
def metadata():
    """The CapabilityStatement (no authentication)."""
    base = base_url()
    return fhir_response(capability_statement(base, base[: -len("/fhir")] + "/auth/token"))


@bp.post("")
@bp.post("/")
def bundle():
    """A transaction or batch Bundle."""
    body = json_body()
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or body.get(
            "type") not in ("transaction", "batch"):
        raise BadRequest("POST /fhir takes a Bundle of type transaction or batch",
                         path="Bundle.type")
    base, want = base_url(), prefer("return")
    if body["type"] == "transaction":
        result = run_write(lambda ctx: bundles.transaction(ctx, body, base, want))
    else:
        result = bundles.batch(run_write, body, base, want)
    return fhir_response(result)


@bp.get("")
@bp.get("/")
def search_system():
    """``GET /fhir?_type=A,B&_lastUpdated=...``: a search over several types."""
    base, items = base_url(), _query_items()
    return fhir_response(run_read(lambda ctx: everything.system_search(ctx, items,
                                                                        base=base)))


@bp.get("/_history")
def history_system():
    """The history of every type the caller may read (incremental sync)."""
    base, items = base_url(), _query_items()
    return fhir_response(run_read(lambda ctx: everything.system_history(ctx, items,
                                                                         base=base)))


@bp.get("/<rtype>/<rid>/$everything")
def everything_instance(rtype: str, rid: str):
    """``Patient/{id}/$everything`` (R4) and ``EpisodeOfCare/{id}/$everything`` (the case)."""
    base, items = base_url(), _query_items()
    operations = {"Patient": everything.patient_everything,
                  "EpisodeOfCare": everything.episode_everything}
    operation = operations.get(rtype)
    if operation is None:
        raise NotFound(f"no $everything operation on {rtype}")
    return fhir_response(run_read(lambda ctx: operation(ctx, rid, items, base=base)))


@bp.get("/Subscription/<rid>/$status")
def subscription_status(rid: str):
    """The status of a Subscription (Backport IG ``$status``, instance level)."""
    base = base_url()
    return fhir_response(run_read(lambda ctx: subscription_status_op.status(ctx, rid, base)))


@bp.get("/<rtype>")
def search_type(rtype: str):
    base = base_url()
    items = _query_items()
    return fhir_response(run_read(lambda ctx: search(ctx, rtype, items, base=base,
                                                     strict=_strict())))


@bp.post("/<rtype>/_search")
def search_post(rtype: str):
    """Search with the parameters in a form body (and the URL)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("POST _search takes application/x-www-form-urlencoded")
    items = _query_items() + parse_qsl(request.get_data(as_text=True),
                                       keep_blank_values=True)
    base = base_url()
    return fhir_response(run_read(lambda ctx: search(ctx, rtype, items, base=base,
                                                     strict=_strict())))


@bp.post("/<rtype>")
def create(rtype: str):
    body = _resource_body()
    if_none_exist = this_request().headers.get("If-None-Exist")
    result = run_write(lambda ctx: ia.create(ctx, rtype, body, if_none_exist))
    if result.resource is None:  # a match the caller may not read: no body, no Location
        return fhir_response(information_outcome(result.message), result.status)
    return write_response(result.resource, result.status, result.message)


@bp.put("/<rtype>")
def conditional_update(rtype: str):
    items = _query_items()
    if not items:
        raise BadRequest("PUT on a type needs search criteria (conditional update)")
    body = _resource_body()
    if_match_version = if_match()
    result = run_write(lambda ctx: ia.conditional_update(ctx, rtype, items, body,
                                                         if_match_version))
    return write_response(_stored(result), result.status, result.message)


@bp.delete("/<rtype>")
def conditional_delete(rtype: str):
    items = _query_items()
    if not items:
        raise BadRequest("DELETE on a type needs search criteria (conditional delete)")
    run_write(lambda ctx: ia.conditional_delete(ctx, rtype, items))
    return fhir_response(None, 204)


@bp.get("/<rtype>/<rid>")
def read(rtype: str, rid: str):
    result = run_read(lambda ctx: ia.read(ctx, rtype, rid))
    return fhir_response(_read_body(_stored(result)), 200, version_headers(_stored(result)))


@bp.put("/<rtype>/<rid>")
def update(rtype: str, rid: str):
    body = _resource_body()
    if_match_version = if_match()
    result = run_write(lambda ctx: ia.update(ctx, rtype, rid, body, if_match_version))
    return write_response(_stored(result), result.status, result.message)


@bp.delete("/<rtype>/<rid>")
def delete(rtype: str, rid: str):
    run_write(lambda ctx: ia.delete(ctx, rtype, rid))
    return fhir_response(None, 204)


@bp.get("/<rtype>/_history")
def history_type(rtype: str):
    base = base_url()
    return fhir_response(run_read(lambda ctx: history_bundle(ctx, rtype, None, request.args,
                                                             base=base)))


@bp.get("/<rtype>/<rid>/_history")
def history_instance(rtype: str, rid: str):
    base = base_url()
    return fhir_response(run_read(lambda ctx: history_bundle(ctx, rtype, rid, request.args,
                                                             base=base)))


@bp.get("/<rtype>/<rid>/_history/<vid>")
def vread(rtype: str, rid: str, vid: str):
    result = run_read(lambda ctx: ia.vread(ctx, rtype, rid, vid))
    return fhir_response(_read_body(_stored(result)), 200, version_headers(_stored(result)))
