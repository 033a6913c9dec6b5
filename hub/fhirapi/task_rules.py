"""The referral Task state machine, applied to FHIR writes of Task.

A write that changes ``Task.status`` must follow ``hub.cases.REFERRAL_TRANSITIONS`` for
the actor making it: a client bound to the organization that owns the Task (or that
claims an open Task by setting itself as owner) is the ``OWNER``; the hub's own clients
(no organization) are the ``REQUESTER``. ``entered-in-error`` is allowed to both from any
state. The partner-compartment and case-mapping work reuse ``actor_for`` and
``check_task_transition``.
"""

from __future__ import annotations

from typing import cast

from hub.cases import REFERRAL_REASON_REQUIRED, REFERRAL_TRANSITIONS, Actor, ReferralStatus
from hub.errors import BusinessRuleFailed, Conflict, Forbidden, Issue
from hub.fhirstore.searchparams import split_reference


def _org_id(value: str | None) -> str | None:
    """The id of an organization given as ``Organization/x``, an absolute URL or ``x``."""
    if not value:
        return None
    target = split_reference(value)
    return target[1] if target else None


def owner_id(task: dict | None) -> str | None:
    """The Organization id of a Task's owner, if it is a literal Organization reference."""
    owner = (task or {}).get("owner") or {}
    target = split_reference(owner.get("reference", ""))
    if target and target[0] in (None, "Organization"):
        return target[1]
    return None


def actor_for(organization: str | None, old: dict | None, new: dict) -> Actor:
    """Who makes this Task write, or Forbidden for an organization that is not the owner."""
    org = _org_id(organization)
    if org is None:
        return Actor.REQUESTER
    current = owner_id(old)
    if current == org or (current is None and owner_id(new) == org):
        return Actor.OWNER
    raise Forbidden("only the owner organization of this Task may change it",
                    issues=[Issue("only the owner organization of this Task may change it",
                                  code="forbidden", path="Task.owner")])


def check_task_transition(old: dict | None, new: dict, organization: str | None) -> None:
    """Conflict (409) for a status move the actor may not make; 422 without a reason."""
    if old is None:
        return
    before, after = old.get("status"), new.get("status")
    if before == after:
        return
    actor = actor_for(organization, old, new)
    try:
        to = ReferralStatus(cast(str, after))  # None or unknown: ValueError
    except ValueError:
        message = f"a referral Task cannot move to {after}"
        raise Conflict(message, issues=[Issue(message, code="business-rule",
                                              path="Task.status")]) from None
    try:
        frm = ReferralStatus(cast(str, before))
    except ValueError:
        frm = None
    allowed = REFERRAL_TRANSITIONS[actor].get(frm, frozenset()) if frm else frozenset()
    if to != ReferralStatus.ENTERED_IN_ERROR and to not in allowed:
        message = f"a Task cannot move from {before} to {after} as {actor.value}"
        raise Conflict(message, issues=[Issue(message, code="business-rule",
                                              path="Task.status")])
    if to in REFERRAL_REASON_REQUIRED and not ((new.get("statusReason") or {}).get("text")
                                              or "").strip():
        message = f"a Task moved to {after} needs statusReason.text"
        raise BusinessRuleFailed(message, issues=[Issue(message, code="business-rule",
                                                        path="Task.statusReason.text")])
