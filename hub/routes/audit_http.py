"""AuditEvents of the hub's own HTTP APIs over patient data: ``/api/cases``, ``/admin`` and
the console's case pages (``hub.audit``; ``/fhir`` records its own in ``hub.fhirapi``).

A view says what it showed or changed (``saw_case``, ``saw_resource``); each request of a
known caller leaves one AuditEvent in BALP shapes (``hub.audit.events``): the interaction
(from the endpoint and method), the outcome from the response status (0; 4 for a refused
request, 4xx; 8 for a server error), the agents (the client and its address; for the
console the signed-in user, who is the requestor), the entities (each case as its
EpisodeOfCare with the case id, each delivery's resource) and the patients concerned.
Identifiers only: never a body.

A write's AuditEvent is inserted in the transaction that makes its change, just before it
commits (``in_transaction``, a commit observer of the database): the change and its record
are committed together or not at all. A read's, and a refused or failed request's (nothing
committed), is written after the answer is ready, in a transaction shared with the reads
waiting at the same moment (``hub.audit.group``), before the answer leaves. A request
without a known caller (401, a console page before sign-in) is not recorded here: those
are authentication events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Request, Response, g, has_request_context, request
from sqlalchemy.orm import Session

from hub import cases as c
from hub.audit import events as audit_events
from hub.audit import log as audit_log
from hub.audit.events import Access, RequestInfo, User
from hub.audit.group import group_commit
from hub.clock import utcnow
from hub.mappings.codes import hub_naming_system
from hub.mappings.identity import resource_id
from hub.mappings.patient import patient_reference
from hub.observability.safe_errors import safe_trace
from hub.routes.current import header, this_app, this_g, this_request
from hub.routes.hosts import server_root
from hub.store.db import CASES_SAVED

log = logging.getLogger(__name__)

CONSOLE_CLIENT = "hub-console"
#: endpoints whose interaction the method and URL do not tell
_INTERACTIONS = {"admin.retry_all_dead": "update", "admin.repair_sync": "update",
                 "admin.verify_sync": "search-type"}
_CASE_ARGS = ("case_id",)


def _access() -> dict[str, Any]:
    flask_g = this_g()
    state = flask_g.get("hub_audit")
    if state is None:
        state = flask_g.hub_audit = {"touched": {}, "identifiers": {}, "failure": None}
    return state


def case_entity(case_id: str) -> str:
    """The reference of a case in the audit log: its EpisodeOfCare."""
    return f"EpisodeOfCare/{resource_id(case_id, 'case')}"


def _case_ref(state: dict[str, Any], case_id: str) -> str:
    """``case_entity(case_id)`` worked out once per request (an HMAC)."""
    refs = state.setdefault("case_refs", {})
    ref = refs.get(case_id)
    if ref is None:
        ref = refs[case_id] = case_entity(case_id)
    return ref


def saw_case(case: c.Case) -> None:
    """The view showed or changed ``case`` (its patient is the patient entity)."""
    state = _access()
    ref = _case_ref(state, case.id)
    state["touched"][ref] = {"patient": {"reference": patient_reference(case)["reference"]}}
    state["identifiers"][ref] = {"system": hub_naming_system("case"), "value": case.id}


def saw_resource(resource_type: str, resource_id_: str, content: dict | None) -> None:
    """The view showed or changed a resource (a delivery's), with its content in hand."""
    _access()["touched"][f"{resource_type}/{resource_id_}"] = content


def failed(status: int) -> None:
    """The view answered a refusal as a page or redirect (the console's flashed errors)."""
    _access()["failure"] = status


def _interaction(req: Request) -> str:
    named = _INTERACTIONS.get(req.endpoint or "")
    if named:
        return named
    has_id = bool(req.view_args)
    if req.method in ("GET", "HEAD"):
        return "read" if has_id else "search-type"
    if req.method == "DELETE":
        return "delete"
    return "update" if has_id else "create"


def _server() -> str:
    return server_root()


Caller = Callable[[], tuple[str, str | None, User | None] | None]
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _row(client_id: str, organization: str | None, user: User | None, status: int) -> dict:
    """The ``audit_events`` row of this request, answered (or about to be) with ``status``."""
    state = _access()
    access = Access()
    req = this_request()  # read directly, not through Flask's proxy (``hub.routes.current``)
    interaction = _interaction(req)
    for ref, content in state["touched"].items():
        access.saw(interaction, ref, content)
    if interaction == "search-type":
        access.searched(interaction, "EpisodeOfCare", [])
    case_id = (req.view_args or {}).get("case_id")
    case_ref = _case_ref(state, case_id) if case_id else ""  # the view's, if it saw it
    info = RequestInfo(address=req.remote_addr,
                       request_id=header(req, "X-Request-Id"), method=req.method,
                       path=case_ref, query=req.query_string.decode("utf-8", "replace"),
                       server=_server())
    outcome, desc = audit_events.outcome_of(status)
    identifiers = dict(state["identifiers"])
    if case_id and case_ref not in identifiers:
        identifiers[case_ref] = {"system": hub_naming_system("case"), "value": case_id}
    recorded = utcnow().replace(tzinfo=None)  # stored as naive UTC
    event, entities, patients = audit_events.build(
        access, client_id=client_id, organization=organization, request=info,
        recorded=recorded, outcome=outcome, outcome_desc=desc, interaction=interaction,
        user=user, identifiers=identifiers)
    return audit_log.row(event, recorded, client_id, organization, entities, patients,
                         user=user.name if user else None)


def in_transaction(session: Session) -> None:
    """Commit observer (``Database.commit_observers``): a write of an audited request
    inserts its AuditEvent (outcome 0) in the transaction that makes the change, just
    before it commits; both are committed or neither. The cases the transaction saved
    are its entities."""
    if not has_request_context() or this_request().method not in WRITES:
        return
    caller = this_g().get("hub_audit_caller")
    who = caller() if caller is not None else None
    if who is None:
        return
    for case in (session.info.get(CASES_SAVED) or {}).values():
        saw_case(case)
    client_id, organization, user = who
    session.execute(audit_log.INSERT, [_row(client_id, organization, user, 200)])
    _access()["in_transaction"] = True


def _after(caller: Caller):
    def before() -> None:
        this_g().hub_audit_caller = caller

    def after(response: Response) -> Response:
        if this_request().method == "OPTIONS":
            return response
        who = caller()
        if who is None:
            return response
        state = _access()
        status = state["failure"] or response.status_code
        if state.get("in_transaction") and status < 400:
            return response  # recorded with the change it made
        try:
            # a read, or a refused or failed request (nothing it did was committed, or
            # what was is recorded already): a transaction shared with the others waiting
            client_id, organization, user = who
            group_commit(this_app().extensions["hub.db"]).record(
                _row(client_id, organization, user, status))
        except Exception as exc:  # the answer stands; the failure is logged safely
            log.error("could not record the AuditEvent of %s %s: %s", request.method,
                      request.endpoint, safe_trace(exc))
        return response

    _HOOKS.add(after)
    return before, after


#: the after-request functions that record AuditEvents (``audited``)
_HOOKS: set[Callable] = set()


def _api_caller() -> tuple[str, str | None, User | None] | None:
    principal = this_g().get("principal")
    return (principal.client_id, principal.organization, None) if principal else None


def _console_caller() -> tuple[str, str | None, User | None] | None:
    person = g.get("user")
    return (CONSOLE_CLIENT, None, User(person.name)) if person is not None else None


def _hook(blueprint: Blueprint, caller: Caller) -> None:
    before, after = _after(caller)
    blueprint.before_request(before)
    blueprint.after_request(after)


def audit_api(blueprint: Blueprint) -> None:
    """Record every request of an API blueprint whose caller is known (``/api/cases``,
    ``/admin``)."""
    _hook(blueprint, _api_caller)


def audit_console(blueprint: Blueprint) -> None:
    """Record every request of a console blueprint made by a signed-in user."""
    _hook(blueprint, _console_caller)


def init_app(app: Flask) -> None:
    """Writes of audited requests record their AuditEvent in their own transaction."""
    observers = app.extensions["hub.db"].commit_observers
    if in_transaction not in observers:
        observers.append(in_transaction)


def audited(app: Flask, blueprint: str) -> bool:
    """Whether the requests of ``blueprint`` in ``app`` leave AuditEvents (this module's
    hook is registered on it)."""
    return any(f in _HOOKS for f in app.after_request_funcs.get(blueprint, []))
