"""What a client bound to an Organization (a partner) may write through the FHIR API.

Compartment membership (``hub.fhirstore.compartments``) is made only of links the hub
wrote; these checks keep a partner's writes from reaching beyond it:

* every reference a partner adds to a resource (one the previous version did not hold)
  must point at a live resource the partner can already see; contained references
  (``#id``) must name a contained resource, and Bundle-internal ones are resolved to
  ``Type/id`` before the check runs (in a transaction: after all entries are written);
* the types partners author have explicit rules (``WRITE_RULES``: an Encounter's
  ``serviceProvider`` is the partner, it is ``basedOn`` one of its referrals, ...); any
  other written resource must stay inside the compartment;
* a partner does not create resources with ids of its choosing (PUT to an id that is not
  in its compartment answers 404 whether or not the id exists, see ``interactions``);
* a referral Task is changed only by its owner, or claimed (``owner`` = the partner) by an
  organization the open Task is offered to (``task_change_allowed``).

A refused reference answers 403 with the same text whether its target is hidden or absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from hub.errors import Forbidden, Issue
from hub.fhirstore.compartments import is_open_task, is_visible, offered_to, org_id
from hub.fhirstore.searchparams import split_reference, values_at


def _forbidden(message: str, path: str) -> Forbidden:
    return Forbidden(message, issues=[Issue(message, code="forbidden", path=path)])


def _refs(data: dict, path: str) -> list[tuple[str | None, str]]:
    out = []
    for value in values_at(data, path):
        target = split_reference((value or {}).get("reference") or "") \
            if isinstance(value, dict) else None
        out.append(((target[0] or value.get("type")), target[1]) if target else (None, ""))
    return out


def _require_own(data: dict, rtype: str, element: str, org: str) -> None:
    refs = _refs(data, element)
    if refs != [("Organization", org_id(org))]:
        raise _forbidden(f"{rtype}.{element} must be {org}, the client's organization",
                         f"{rtype}.{element}")


def _require_visible(session, org: str, data: dict, rtype: str, elements: tuple[str, ...],
                     types: tuple[str, ...] = (), required: bool = True) -> None:
    """Each reference at ``elements`` must point at a live resource of the compartment."""
    found = False
    for element in elements:
        for target_type, rid in _refs(data, element):
            found = True
            if target_type is None or (types and target_type not in types) or \
                    not is_visible(session, org, target_type, rid, live=True):
                what = " or ".join(types) if types else "resource"
                raise _forbidden(f"{rtype}.{element} must reference a {what} of the "
                                 f"compartment of {org}", f"{rtype}.{element}")
    if required and not found:
        raise _forbidden(f"{rtype} written by {org} needs {' or '.join(elements)} "
                         "referencing its compartment", f"{rtype}.{elements[0]}")


def _encounter(session, org: str, data: dict) -> None:
    _require_own(data, "Encounter", "serviceProvider", org)
    _require_visible(session, org, data, "Encounter", ("basedOn",), ("ServiceRequest",))


def _event(rtype: str) -> Callable:
    def check(session, org: str, data: dict) -> None:
        _require_visible(session, org, data, rtype, ("basedOn", "partOf", "encounter"))
        _require_visible(session, org, data, rtype, ("subject",), ("Patient",),
                         required=False)
    return check


def _document(session, org: str, data: dict) -> None:
    _require_visible(session, org, data, "DocumentReference", ("subject",), ("Patient",))
    _require_visible(session, org, data, "DocumentReference", ("context.encounter",),
                     required=False)


def _response(rtype: str, request_type: str) -> Callable:
    def check(session, org: str, data: dict) -> None:
        _require_own(data, rtype, "insurer", org)
        _require_visible(session, org, data, rtype, ("request",), (request_type,))
    return check


def _subscription(session, org: str, data: dict) -> None:
    """A partner's own Subscription: it references nothing (its criteria are searches run
    within the partner's compartment, ``hub.subscriptions``); visible to it as authored."""


#: Explicit rules for the types partners author; other types must simply stay visible.
WRITE_RULES: dict[str, Callable] = {
    "Encounter": _encounter,
    "Procedure": _event("Procedure"),
    "Observation": _event("Observation"),
    "DocumentReference": _document,
    "CoverageEligibilityResponse": _response("CoverageEligibilityResponse",
                                             "CoverageEligibilityRequest"),
    "ClaimResponse": _response("ClaimResponse", "Claim"),
    "Subscription": _subscription,
}


# --- every reference ---------------------------------------------------------------------


def references(node, path: str) -> Iterator[tuple[str, str]]:
    """(element path, reference text) of every ``reference`` string in ``node``."""
    if isinstance(node, list):
        for item in node:
            yield from references(item, path)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield path, value
            elif isinstance(value, (dict, list)):
                yield from references(value, f"{path}.{key}")


def _contained_ids(resource: dict) -> set[str]:
    return {c["id"] for c in resource.get("contained") or []
            if isinstance(c, dict) and isinstance(c.get("id"), str)}


def check_references(session, org: str, rtype: str, rid: str, after: dict,
                     before: dict | None) -> None:
    """403 unless every reference ``after`` adds to ``before`` points at a live resource
    in the compartment of ``org`` (or at a contained resource, or at itself)."""
    old = {value for _, value in references(before, rtype)} if before else set()
    contained = _contained_ids(after)
    checked: set[str] = set()
    for path, value in references(after, rtype):
        if value in old or value in checked:
            continue
        checked.add(value)
        if value.startswith("#"):
            if value[1:] in contained or value == "#":
                continue
            raise _forbidden(f"{path} refers to {value}, which is not contained", path)
        target = split_reference(value)
        if target is None or target[0] is None:
            raise _forbidden(f"{path} must be a literal reference Type/id", path)
        if target in ((rtype, rid), ("Organization", org_id(org))):
            continue
        if not is_visible(session, org, target[0], target[1], live=True):
            raise _forbidden(f"{path} may only reference resources of the compartment of "
                             f"{org}", path)


def check_write(session, org: str, rtype: str, rid: str, after: dict,
                before: dict | None) -> None:
    """The compartment rules of one write by a client bound to ``org`` (not deletes)."""
    rule = WRITE_RULES.get(rtype)
    if rule is not None:
        rule(session, org, after)
    check_references(session, org, rtype, rid, after, before)
    if rule is None and not is_visible(session, org, rtype, rid, authored=False):
        raise _forbidden(f"a {rtype} written by {org} must stay in its compartment", rtype)


# --- referral Tasks ----------------------------------------------------------------------


def _owner(task: dict | None) -> str | None:
    target = split_reference(((task or {}).get("owner") or {}).get("reference") or "")
    return target[1] if target and target[0] in (None, "Organization") else None


def task_change_allowed(org: str, before: dict, after: dict | None) -> bool:
    """Whether a partner bound to ``org`` may change (``after``) or delete (None) a Task:
    it owns it, or it claims an open Task offered to it (``owner`` set to itself)."""
    me = org_id(org)
    if _owner(before) == me:
        return True
    if after is None or not is_open_task(before) or _owner(after) != me:
        return False
    recipients = offered_to(before)
    return not recipients or me in recipients
