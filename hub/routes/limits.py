"""Request limits enforced before any work (settings in ``hub.config``, checks in
``hub.limits.checks``): body size (``MAX_CONTENT_LENGTH``, checked on Content-Length before
reading), JSON nesting depth (on the bytes, before parsing), strings (NUL, unpaired
surrogates, length, token columns), Bundle entries and batch work, integer paging
parameters and version ids; and, after the work, the size of read and search answers.

Violations are ``HubError``s: OperationOutcome under /fhir and /notifications, a JSON
problem naming the field under /api.
"""

from __future__ import annotations

import json
import re

from flask import Flask, Request, g

from hub.errors import BadRequest, HubError, Issue, NotFound, PayloadTooLarge, TooCostly
from hub.limits.checks import (
    INT4_MAX,
    check_bundle,
    check_integer_param,
    check_strings,
    nesting_depth_exceeds,
    only_reads,
)
from hub.routes.current import header, this_app, this_g, this_request
from hub.routes.errors import render_error

_VERSION_PATH = re.compile(r"/_history/(\d+)/?$")
_OFFSET_PARAMS = ("_offset", "offset", "_getpagesoffset")
_URL_HEADERS = ("If-None-Exist", "If-Match", "If-None-Match")


def _settings():
    return this_app().extensions["hub.settings"]


def _fail(problem) -> HubError:
    cls = PayloadTooLarge if problem.status == 413 else BadRequest
    return cls(problem.message, issues=[Issue(problem.message, code="too-costly"
                                              if problem.status == 413 else "invalid",
                                              path=problem.path)])


def _check_url(req: Request) -> None:
    path = req.path
    if "\x00" in path or b"%00" in req.query_string.lower():
        raise BadRequest("the URL contains a NUL character", path="url")
    for name in _URL_HEADERS:
        value = header(req, name) or ""
        if "\x00" in value or "%00" in value.lower():
            raise BadRequest(f"{name} contains a NUL character", path=name)
    m = _VERSION_PATH.search(path)
    if m and (len(m.group(1)) > 10 or int(m.group(1)) > INT4_MAX):
        raise NotFound(f"no version {m.group(1)}")
    maximum = _settings().max_offset
    args = req.args
    for name in _OFFSET_PARAMS:
        for value in args.getlist(name):
            problem = check_integer_param(name, value, maximum)
            if problem:
                raise _fail(problem)


def _is_json(req: Request) -> bool:
    mimetype = (req.mimetype or "").lower()
    return "json" in mimetype


def _check_body(req: Request) -> None:
    settings = _settings()
    length = req.content_length
    if length is not None and length > settings.max_body_bytes:
        raise PayloadTooLarge(f"the body is {length} bytes; at most "
                              f"{settings.max_body_bytes} are accepted")
    if req.method in ("GET", "HEAD", "DELETE", "OPTIONS") or not _is_json(req):
        return
    raw = req.get_data(cache=True)  # 413 from werkzeug past MAX_CONTENT_LENGTH
    if not raw:
        return
    if nesting_depth_exceeds(raw, settings.max_json_depth):
        raise BadRequest(f"the JSON nests deeper than {settings.max_json_depth} levels",
                         path=None)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return  # the endpoint answers its own 400 for malformed JSON
    api = "case" if req.path.startswith("/api/") else "fhir"
    rtype = data.get("resourceType") if isinstance(data, dict) else None
    fhir_root = rtype if isinstance(rtype, str) and rtype.isalpha() else "$"
    root = "" if api == "case" else fhir_root
    limit = settings.max_text_length if api == "case" else settings.max_string_length
    problem = check_strings(data, root, limit, api)
    if problem:
        raise _fail(problem)
    if api == "fhir" and isinstance(data, dict) and data.get("resourceType") == "Bundle":
        problem = check_bundle(data, max_entries=settings.max_bundle_entries,
                               max_searches=settings.max_batch_searches,
                               max_results=settings.max_batch_results,
                               default_count=settings.page_size_default,
                               max_count=settings.page_size_max)
        if problem:
            raise _fail(problem)
        g.hub_read_only_batch = only_reads(data)


def check_request() -> None:
    req = this_request()  # read directly, not through Flask's proxy (``hub.routes.current``)
    _check_url(req)
    _check_body(req)


def check_response(resp):
    """Replace a read or search answer over ``max_response_bytes`` with a 400 too-costly."""
    req = this_request()
    if not (req.method in ("GET", "HEAD") or req.path.endswith("/_search")
            or this_g().get("hub_read_only_batch")):
        return resp
    if resp.is_streamed or resp.status_code >= 300:
        return resp
    maximum = _settings().max_response_bytes
    size = resp.content_length
    if size is not None and size > maximum:
        return render_error(TooCostly(
            f"the answer would be {size} bytes; at most {maximum} are sent: ask for "
            f"smaller pages (_count) or fewer includes"))
    return resp


def init_app(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = app.extensions["hub.settings"].max_body_bytes
    app.before_request(check_request)
    app.after_request(check_response)
