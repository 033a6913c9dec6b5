"""``/api/cases``: the case manager's API. Parse and check the request, call a service,
answer JSON with the case's ETag (``W/"<version>"``). Errors are HubErrors (JSON problems).
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, request, url_for
from marshmallow import ValidationError

from hub import case_documents, clock, services
from hub.case_list_schemas import CasePageSchema, CaseQuerySchema, summary
from hub.cases import Case
from hub.errors import (
    validation_failed,
)
from hub.etag import weak_etag
from hub.routes.audit_http import audit_api, saw_case
from hub.routes.case_input import (
    caller_id,
    expected_version,
    json_object,
    load_body,
    write_case,
)
from hub.routes.current import this_app
from hub.routes.guards import refuse_bound_clients, require_scope
from hub.schemas import (
    ApprovalRequestSchema,
    NoteRequestSchema,
    ReviewRequestSchema,
    TransitionRequestSchema,
    case_input_schema,
)
from hub.store.case_repo import CaseFilter
from hub.store.uow import UnitOfWork

bp = Blueprint("cases", __name__, url_prefix="/api/cases")
bp.before_request(refuse_bound_clients)
audit_api(bp)  # every request of a known caller leaves an AuditEvent (hub.routes.audit_http)
MERGE_PATCH = "application/merge-patch+json"
_page_out = CasePageSchema()


# --- request helpers ----------------------------------------------------------------------


def _uow() -> UnitOfWork:
    return UnitOfWork(current_app.extensions["hub.db"],
                      partners=current_app.extensions["hub.runtime"].partners)


def _reading() -> UnitOfWork:
    """A read-only unit of work (no ORM session: ``hub.store.reading``)."""
    return UnitOfWork(this_app().extensions["hub.db"], read_only=True)




def _rendered() -> case_documents.RenderedCases:
    """The app's rendered case versions (``case_documents.RenderedCases``)."""
    found = this_app().extensions.get("hub.rendered_cases")
    if found is None:
        found = current_app.extensions["hub.rendered_cases"] = case_documents.RenderedCases(
            lambda body: cast(Response, current_app.json.response(body)).get_data())
    return cast(case_documents.RenderedCases, found)


def _answer(case: Case, status: int = 200, *, created: bool = False) -> Response:
    saw_case(case)
    resp = this_app().response_class(_rendered().body(case), mimetype="application/json")
    resp.status_code = status
    resp.headers["ETag"] = weak_etag(case.version)
    if created:
        resp.headers["Location"] = url_for("cases.read_case", case_id=case.id)
    return resp


# --- routes -------------------------------------------------------------------------------


@bp.post("/")
@bp.post("")
@require_scope("Case", "c")
def create_case():
    """Open a case from the client's record; 201 with Location and ETag."""
    case = load_body(case_input_schema())
    case = write_case(services.open_case, case, by=caller_id())
    return _answer(case, 201, created=True)


@bp.get("/<case_id>")
@require_scope("Case", "r")
def read_case(case_id: str):
    """One case, with its ETag."""
    with _reading() as uow:
        return _answer(services.get_case(uow, case_id))


@bp.get("/")
@bp.get("")
@require_scope("Case", "s")
def search_cases():
    """The worklist: case summaries filtered, sorted and paged (in SQL), with next and
    previous links."""
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "status"}
    statuses = [s for v in request.args.getlist("status") for s in v.split(",") if s]
    if statuses:
        args["status"] = statuses
    try:
        query = CaseQuerySchema().load(args)
    except ValidationError as err:
        raise validation_failed(err.messages) from None
    settings = current_app.extensions["hub.settings"]
    limit = min(query.get("limit", settings.page_size_default), settings.page_size_max)
    offset = query.get("offset", 0)
    today = query.get("as_of", clock.today())
    criteria = CaseFilter(
        status=query.get("status", []), identifier=query.get("identifier"),
        model=query.get("model"), program=query.get("program"),
        overdue_as_of=today if query.get("overdue") else None,
        due_before=query.get("due_before"), name=query.get("name"),
        case_manager=query.get("case_manager"))
    with _reading() as uow:
        page = services.list_cases(uow, criteria, limit, offset, sort=query["sort"])
    following = _page_link(offset + len(page.items), limit) \
        if offset + len(page.items) < page.total else None
    previous = _page_link(max(offset - limit, 0), limit) if offset > 0 else None
    for case in page.items:
        saw_case(case)
    items = [summary(c, url_for("cases.read_case", case_id=c.id), today) for c in page.items]
    return _page_out.dump({"items": items, "total": page.total, "limit": limit,
                           "offset": offset, "next": following, "previous": previous})


def _page_link(offset: int, limit: int) -> str:
    params = [(k, v) for k, v in request.args.items(multi=True)
              if k not in ("offset", "limit")]
    params += [("limit", str(limit)), ("offset", str(offset))]
    return f"{url_for('cases.search_cases')}?{urlencode(params)}"


@bp.put("/<case_id>")
@require_scope("Case", "u")
def replace_case(case_id: str):
    """Replace the editable parts of a case; If-Match required. The body may be the case
    as read: server-set fields equal to the stored ones are ignored, one that differs is a
    422 naming it."""
    expected = expected_version()
    raw = json_object()
    new, due = case_documents.load_replacement(raw)
    return _answer(write_case(services.update_case, case_id, expected, new, sent=raw,
                              next_review_due=due))


@bp.patch("/<case_id>")
@require_scope("Case", "u")
def patch_case(case_id: str):
    """JSON Merge Patch (RFC 7396, ``application/merge-patch+json``) of the case as read;
    If-Match required (428 without, 412 stale); the result is validated like a PUT."""
    expected = expected_version()
    patch = json_object(MERGE_PATCH)
    return _answer(write_case(services.patch_case, case_id, expected, patch))


@bp.post("/<case_id>/transitions")
@require_scope("Case", "u")
def transition(case_id: str):
    """Move the case along its lifecycle: ``{"to": ..., "reason": ...}``; If-Match required."""
    expected = expected_version()
    req = load_body(TransitionRequestSchema())
    case = write_case(services.transition_case, case_id, expected, req["to"],
                      reason=req.get("reason"), by=caller_id())
    return _answer(case)


@bp.post("/<case_id>/plan/approval")
@require_scope("Case", "u")
def approve_plan(case_id: str):
    """Record the physician's approval of the plan at the If-Match version (required)."""
    expected = expected_version()
    req = load_body(ApprovalRequestSchema())
    case = write_case(services.approve_plan, case_id, expected, req["approved_by"],
                      at=req.get("approved_at"))
    return _answer(case)


@bp.post("/<case_id>/reviews")
@require_scope("Case", "u")
def record_review(case_id: str):
    """Record a monitoring review; If-Match optional."""
    expected = expected_version(required=False)
    review = load_body(ReviewRequestSchema())
    return _answer(write_case(services.record_review, case_id, expected, review), 201)


@bp.post("/<case_id>/notes")
@require_scope("Case", "u")
def add_note(case_id: str):
    """Append a note; If-Match optional."""
    expected = expected_version(required=False)
    note = load_body(NoteRequestSchema())
    return _answer(write_case(services.add_note, case_id, expected, note), 201)
