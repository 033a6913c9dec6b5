"""AuditEvents of the hub's own HTTP APIs over patient data: ``/api/cases``, ``/admin`` and
the console's case pages (``hub.audit``; ``/fhir`` records its own in ``hub.fhirapi``).

A view says what it showed or changed (``saw_case``, ``saw_resource``); after the request,
``record`` writes one AuditEvent in BALP shapes (``hub.audit.events``) in a transaction of
its own: the interaction (from the endpoint and method), the outcome from the response
status (0; 4 for a refused request, 4xx; 8 for a server error), the agents (the client
and its address; for the console the signed-in user, who is the requestor), the entities
(each case as its EpisodeOfCare with the case id, each delivery's resource) and the
patients concerned. Identifiers only: never a body. A request without a known caller (401,
a console page before sign-in) is not recorded here: the token endpoint and the sign-in
log those.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request

from hub import cases as c
from hub.audit import events as audit_events
from hub.audit import log as audit_log
from hub.audit.events import Access, RequestInfo, User
from hub.clock import utcnow
from hub.mappings.codes import hub_naming_system
from hub.mappings.identity import resource_id
from hub.mappings.patient import patient_reference
from hub.observability.safe_errors import safe_trace
from hub.store.uow import UnitOfWork

log = logging.getLogger(__name__)

CONSOLE_CLIENT = "hub-console"
#: endpoints whose interaction the method and URL do not tell
_INTERACTIONS = {"admin.retry_all_dead": "update", "admin.repair_sync": "update",
                 "admin.verify_sync": "search-type"}
_CASE_ARGS = ("case_id",)


def _access() -> dict[str, Any]:
    if "hub_audit" not in g:
        g.hub_audit = {"touched": {}, "identifiers": {}, "failure": None}
    return g.hub_audit


def case_entity(case_id: str) -> str:
    """The reference of a case in the audit log: its EpisodeOfCare."""
    return f"EpisodeOfCare/{resource_id(case_id, 'case')}"


def saw_case(case: c.Case) -> None:
    """The view showed or changed ``case`` (its patient is the patient entity)."""
    ref = case_entity(case.id)
    state = _access()
    state["touched"][ref] = {"patient": {"reference": patient_reference(case)["reference"]}}
    state["identifiers"][ref] = {"system": hub_naming_system("case"), "value": case.id}


def saw_resource(resource_type: str, resource_id_: str, content: dict | None) -> None:
    """The view showed or changed a resource (a delivery's), with its content in hand."""
    _access()["touched"][f"{resource_type}/{resource_id_}"] = content


def failed(status: int) -> None:
    """The view answered a refusal as a page or redirect (the console's flashed errors)."""
    _access()["failure"] = status


def _interaction() -> str:
    named = _INTERACTIONS.get(request.endpoint or "")
    if named:
        return named
    has_id = bool(request.view_args)
    if request.method in ("GET", "HEAD"):
        return "read" if has_id else "search-type"
    if request.method == "DELETE":
        return "delete"
    return "update" if has_id else "create"


def _server() -> str:
    settings = current_app.extensions["hub.settings"]
    return settings.base_url.rstrip("/") if settings.base_url else request.host_url.rstrip("/")


def _record(client_id: str, organization: str | None, user: User | None,
            response: Response) -> None:
    state = _access()
    access = Access()
    interaction = _interaction()
    for ref, content in state["touched"].items():
        access.saw(interaction, ref, content)
    if interaction == "search-type":
        access.searched(interaction, "EpisodeOfCare", [])
    case_id = (request.view_args or {}).get("case_id")
    info = RequestInfo(address=request.remote_addr,
                       request_id=request.headers.get("X-Request-Id"), method=request.method,
                       path=case_entity(case_id) if case_id else "",
                       query=request.query_string.decode("utf-8", "replace"),
                       server=_server())
    outcome, desc = audit_events.outcome_of(state["failure"] or response.status_code)
    identifiers = dict(state["identifiers"])
    if case_id and case_entity(case_id) not in identifiers:
        identifiers[case_entity(case_id)] = {"system": hub_naming_system("case"),
                                             "value": case_id}
    recorded = utcnow().replace(tzinfo=None)  # stored as naive UTC
    event, entities, patients = audit_events.build(
        access, client_id=client_id, organization=organization, request=info,
        recorded=recorded, outcome=outcome, outcome_desc=desc, interaction=interaction,
        user=user, identifiers=identifiers)
    with UnitOfWork(current_app.extensions["hub.db"]) as uow:
        audit_log.record(uow.session, event, recorded, client_id, organization, entities,
                         patients, user=user.name if user else None)
        uow.commit()


def _after(caller: Callable[[], tuple[str, str | None, User | None] | None]):
    def after(response: Response) -> Response:
        if request.method == "OPTIONS":
            return response
        who = caller()
        if who is None:
            return response
        try:
            _record(*who, response)
        except Exception as exc:  # the answer stands; the failure is logged safely
            log.error("could not record the AuditEvent of %s %s: %s", request.method,
                      request.endpoint, safe_trace(exc))
        return response

    _HOOKS.add(after)
    return after


#: the after-request functions that record AuditEvents (``audited``)
_HOOKS: set[Callable] = set()


def _api_caller() -> tuple[str, str | None, User | None] | None:
    principal = g.get("principal")
    return (principal.client_id, principal.organization, None) if principal else None


def _console_caller() -> tuple[str, str | None, User | None] | None:
    person = g.get("user")
    return (CONSOLE_CLIENT, None, User(person.name)) if person is not None else None


def audit_api(blueprint: Blueprint) -> None:
    """Record every request of an API blueprint whose caller is known (``/api/cases``,
    ``/admin``)."""
    blueprint.after_request(_after(_api_caller))


def audit_console(blueprint: Blueprint) -> None:
    """Record every request of a console blueprint made by a signed-in user."""
    blueprint.after_request(_after(_console_caller))


def audited(app: Flask, blueprint: str) -> bool:
    """Whether the requests of ``blueprint`` in ``app`` leave AuditEvents (this module's
    hook is registered on it)."""
    return any(f in _HOOKS for f in app.after_request_funcs.get(blueprint, []))
