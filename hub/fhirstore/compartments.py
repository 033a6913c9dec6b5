"""Partner compartments: what a client bound to an Organization may read and write.

A client bound to ``Organization/o`` (``Principal.organization``) works inside the
compartment of ``o``; the hub's own clients (no organization) see everything their scopes
allow. Membership is a SQL condition on ``resources.res_id`` for one resource type, built
from ``search_index`` rows of current versions (no resource is loaded to decide):

* Task with ``owner`` = o, or open (no owner and status ``requested``: any agency may see
  and claim it);
* ServiceRequest with ``performer`` = o, or the ``focus`` of one of those Tasks;
* from those Tasks and ServiceRequests (the agency anchors): the Patient, CarePlan,
  Coverage, Encounter, Condition, Goal and DocumentReference they reference directly
  (``for``/``subject``, ``supportingInfo``, ``insurance``, ``reasonReference``,
  ``encounter``);
* CoverageEligibilityRequest and Claim with ``insurer`` = o (the insurer anchors), the
  Patient, Coverage, ServiceRequest, Encounter, Organization, Practitioner(Role) they
  reference, and CoverageEligibilityResponse / ClaimResponse with ``insurer`` = o;
* Encounter with ``serviceProvider`` = o (its visits) and the Organization o itself;
* what o wrote: Encounter, Procedure, Observation, DocumentReference and the coverage
  responses that are the target of a Provenance whose agent is o, and those Provenance.

Only one level of references is followed. The references of anchors are indexed under the
internal parameter ``_link`` and an open Task carries ``_open`` rows (``link_rows``),
written by the resource store with the other index rows of a version. Those rows come only
from versions the hub wrote: when a partner writes a version, the ``_link`` rows of the
previous version are carried over unchanged and ``_open`` only kept while the Task stays
open (``carried_rows``), so nothing a partner writes widens any compartment. An open Task
with ``restriction.recipient`` is offered (and visible) only to those organizations.

Anything outside the compartment answers 404 (never 403: its existence is not revealed)
and is absent from searches, includes and history. The checks of partner writes are in
``hub.fhirapi.write_checks``.

Owned types (``OWNED_TYPES``: Subscription, which names its client's endpoint and what it
watches) are, besides, seen only by the client that created them, bound or not
(``client``: the caller's client id; the owner is the ``subscriptions`` row's, kept after
a delete). Another client's answers 404 / absent, as a missing id; its update or delete
is refused as one of a missing resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, Select, false, or_, select, union_all
from sqlalchemy.orm import Session

from hub.fhirstore.searchparams import split_reference, values_at
from hub.fhirstore.tables import current_by_id
from hub.fhirstore.tables import resources as R
from hub.fhirstore.tables import search_index as SI
from hub.store.subscription_tables import subscriptions as SUBSCRIPTIONS

#: Types seen only by the client that created them (see the module docstring).
OWNED_TYPES = frozenset({"Subscription"})

#: The internal search_index parameters: compartment links, and the open-Task marker.
LINK = "_link"
OPEN = "_open"

#: Agency anchors: the element paths whose targets enter the compartment.
AGENCY_LINKS: dict[str, tuple[str, ...]] = {
    "Task": ("for", "encounter", "insurance", "reasonReference"),
    "ServiceRequest": ("subject", "supportingInfo", "insurance", "reasonReference",
                       "encounter"),
}
AGENCY_TARGETS = frozenset({"Patient", "CarePlan", "Coverage", "Encounter", "Condition",
                            "Goal", "DocumentReference"})
#: Insurer anchors: the element paths whose targets enter the compartment.
INSURER_LINKS: dict[str, tuple[str, ...]] = {
    "CoverageEligibilityRequest": ("patient", "provider", "enterer", "facility",
                                   "insurance.coverage", "item.provider", "item.facility",
                                   "supportingInfo.information"),
    "Claim": ("patient", "provider", "enterer", "facility", "referral",
              "insurance.coverage", "careTeam.provider", "item.encounter",
              "supportingInfo.valueReference", "item.extension.valueReference",
              "payee.party"),
}
INSURER_TARGETS = frozenset({"Patient", "Coverage", "ServiceRequest", "Encounter",
                             "Organization", "Practitioner", "PractitionerRole"})
#: Types in the compartment when they reference the organization: type -> param (Task:
#: ``owner``, see ``_Compartment.task``).
OWN_PARAM = {"ServiceRequest": "performer",
             "Encounter": "service-provider", "CoverageEligibilityRequest": "insurer",
             "Claim": "insurer", "CoverageEligibilityResponse": "insurer",
             "ClaimResponse": "insurer", "Provenance": "agent"}
#: Types a partner writes: in its compartment once a Provenance names it as their agent.
AUTHORED = frozenset({"Encounter", "Procedure", "Observation", "DocumentReference",
                      "CoverageEligibilityResponse", "ClaimResponse", "Subscription"})


def org_id(organization: str) -> str:
    """``agency-1`` of ``Organization/agency-1`` (or of an absolute URL)."""
    target = split_reference(organization)
    return target[1] if target else organization


# --- index rows ----------------------------------------------------------------------------


def is_open_task(resource: dict[str, Any]) -> bool:
    """An open referral: a Task with no owner in status ``requested``."""
    return resource.get("resourceType") == "Task" and not resource.get("owner") \
        and resource.get("status") == "requested"


def offered_to(resource: dict[str, Any]) -> list[str]:
    """The organization ids an open Task is offered to (``restriction.recipient``); empty:
    offered to every partner."""
    out: list[str] = []
    for value in (resource.get("restriction") or {}).get("recipient") or []:
        target = split_reference((value or {}).get("reference") or "") \
            if isinstance(value, dict) else None
        out.append(target[1] if target and target[0] in (None, "Organization") else "")
    return out


def _open_rows(resource: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    if not is_open_task(resource):
        return {}
    recipients = offered_to(resource)
    if not recipients:
        return {("", ""): {"param": OPEN, "token_code": "true"}}
    return {("Organization", r): {"param": OPEN, "ref_type": "Organization",
                                  "ref_id": r[:255]} for r in recipients if r}


def link_rows(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``_link`` rows of an anchor resource and the ``_open`` rows of an open Task
    (of a version the hub writes)."""
    paths = {**AGENCY_LINKS, **INSURER_LINKS}.get(str(resource.get("resourceType")), ())
    found: dict[tuple[str, str], dict[str, Any]] = dict(_open_rows(resource))
    for path in paths:
        for value in values_at(resource, path):
            if not isinstance(value, dict):
                continue
            target = split_reference(value.get("reference") or "")
            if target is None:
                continue
            rtype = target[0] or value.get("type")
            if rtype:
                found[rtype, target[1]] = {"param": LINK, "ref_type": rtype,
                                           "ref_id": target[1][:255]}
    return list(found.values())


def carried_rows(previous: list[dict[str, Any]], resource: dict[str, Any]
                 ) -> list[dict[str, Any]]:
    """The internal rows of a version a partner writes: the ``_link`` rows of the previous
    version (``previous``), and its ``_open`` rows only while the Task is still open."""
    still_open = is_open_task(resource)
    return [row for row in previous
            if row["param"] == LINK or (row["param"] == OPEN and still_open)]


# --- membership as SQL ---------------------------------------------------------------------

Member = Callable[[ColumnElement[Any]], ColumnElement[bool]]  # column -> condition


class _Compartment:
    """SQL membership conditions of one organization's compartment.

    ``ids`` (optional) are the only candidates the caller asks about; they are pushed into
    the subqueries that select by target (``ref_id``), so a read checks a handful of index
    rows instead of materializing the whole compartment.
    """

    def __init__(self, organization: str, ids: list[str] | None = None) -> None:
        self.org = org_id(organization)
        self.ids = ids

    def _only(self, column: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        return [column.in_(self.ids)] if self.ids is not None else []

    def referencing_org(self, rtype: str, param: str, top: bool = False) -> Select[Any]:
        """ids of ``rtype`` resources whose ``param`` references the organization."""
        s = SI.alias()
        return select(s.c.res_id).where(
            s.c.res_type == rtype, s.c.param == param, s.c.ref_type == "Organization",
            s.c.ref_id == self.org, *(self._only(s.c.res_id) if top else [])
        ).correlate(None)

    def task(self, col: ColumnElement[Any], top: bool = False) -> ColumnElement[bool]:
        s = SI.alias()
        open_tasks = select(s.c.res_id).where(
            s.c.res_type == "Task", s.c.param == OPEN,
            or_(s.c.token_code == "true",
                (s.c.ref_type == "Organization") & (s.c.ref_id == self.org)),
            *(self._only(s.c.res_id) if top else [])).correlate(None)
        return or_(col.in_(self.referencing_org("Task", "owner", top)), col.in_(open_tasks))

    def focus_of_tasks(self, top: bool = False) -> Select[Any]:
        s = SI.alias()
        return select(s.c.ref_id).where(
            s.c.res_type == "Task", s.c.param == "focus", s.c.ref_type == "ServiceRequest",
            *(self._only(s.c.ref_id) if top else []), self.task(s.c.res_id)).correlate(None)

    def agency_service_request(self, col: ColumnElement[Any]) -> ColumnElement[bool]:
        return or_(col.in_(self.referencing_org("ServiceRequest", "performer")),
                   col.in_(self.focus_of_tasks()))

    def insurer_request(self, rtype: str) -> Member:
        return lambda col: col.in_(self.referencing_org(rtype, "insurer"))

    def linked(self, target_type: str, anchors: dict[str, Member]) -> CompoundSelect[Any]:
        """ids of ``target_type`` resources that the anchors reference (``_link`` rows),
        one select per anchor type."""
        parts = []
        for anchor_type, member in anchors.items():
            s = SI.alias()
            parts.append(select(s.c.ref_id).where(
                s.c.res_type == anchor_type, s.c.param == LINK,
                s.c.ref_type == target_type, *self._only(s.c.ref_id), member(s.c.res_id)
            ).correlate(None))
        return union_all(*parts)

    def authored(self, rtype: str) -> Select[Any]:
        """ids of ``rtype`` resources a Provenance with the organization as agent targets."""
        s = SI.alias()
        return select(s.c.ref_id).where(
            s.c.res_type == "Provenance", s.c.param == "target", s.c.ref_type == rtype,
            *self._only(s.c.ref_id),
            s.c.res_id.in_(self.referencing_org("Provenance", "agent"))).correlate(None)

    def member(self, rtype: str, col: ColumnElement[Any], authored: bool = True) -> ColumnElement[bool]:
        conds: list[ColumnElement[bool]] = []
        if rtype in OWN_PARAM:
            conds.append(col.in_(self.referencing_org(rtype, OWN_PARAM[rtype], top=True)))
        if rtype == "Task":
            conds.append(self.task(col, top=True))
        elif rtype == "ServiceRequest":
            conds.append(col.in_(self.focus_of_tasks(top=True)))
        elif rtype == "Organization":
            conds.append(col == self.org)
        if rtype in AGENCY_TARGETS:
            conds.append(col.in_(self.linked(rtype, {
                "Task": self.task, "ServiceRequest": self.agency_service_request})))
        if rtype in INSURER_TARGETS:
            conds.append(col.in_(self.linked(rtype, {
                t: self.insurer_request(t) for t in INSURER_LINKS})))
        if authored and rtype in AUTHORED:
            conds.append(col.in_(self.authored(rtype)))
        return or_(*conds) if conds else false()


def condition(rtype: str, organization: str, column: ColumnElement[Any], *, authored: bool = True,
              ids: list[str] | None = None) -> ColumnElement[bool]:
    """The SQL condition: ``column`` (a res_id of type ``rtype``) is in the compartment
    (``ids``: the only values ``column`` can take, to narrow the subqueries)."""
    return _Compartment(organization, ids).member(rtype, column, authored)


def owner_condition(rtype: str, client: str | None,
                    column: ColumnElement[Any]) -> ColumnElement[bool] | None:
    """The SQL condition that ``column`` (a res_id of ``rtype``) is one of ``client``'s
    own, for an owned type; None for the others (and for no caller: the hub itself)."""
    if rtype not in OWNED_TYPES or client is None:
        return None
    return column.in_(select(SUBSCRIPTIONS.c.id).where(SUBSCRIPTIONS.c.client_id == client)
                      .correlate(None))


def owned_by(session: Session, client: str | None, rtype: str, rid: str) -> bool:
    """Whether ``client`` may see ``rtype/rid`` as far as ownership goes."""
    cond = owner_condition(rtype, client, SUBSCRIPTIONS.c.id)
    return cond is None or session.execute(select(SUBSCRIPTIONS.c.id).where(
        SUBSCRIPTIONS.c.id == rid, cond)).first() is not None


def visible_ids(session: Session, organization: str, rtype: str, ids: Iterable[str], *,
                authored: bool = True,
                live: bool = False) -> set[str]:
    """Which of ``ids`` (of ``rtype``) are in the compartment (``live``: and not deleted)."""
    wanted = list(dict.fromkeys(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 200):
        part = wanted[start:start + 200]
        stmt = select(R.c.res_id).where(
            R.c.res_type == rtype, R.c.res_id.in_(part), current_by_id,
            condition(rtype, organization, R.c.res_id, authored=authored, ids=part))
        if live:
            stmt = stmt.where(R.c.deleted.is_(False))
        found.update(session.execute(stmt).scalars())
    return found


def is_visible(session: Session, organization: str | None, rtype: str, rid: str, *,
               client: str | None = None, **kw: Any) -> bool:
    """Whether ``rtype/rid`` is readable by a client bound to ``organization`` (or unbound)
    whose client id is ``client`` (owned types: its own only)."""
    if not owned_by(session, client, rtype, rid):
        return False
    return organization is None or rid in visible_ids(session, organization, rtype, [rid], **kw)


def visible_only(session: Session, organization: str | None, resources: list[Any],
                 client: str | None = None) -> list[Any]:
    """``resources`` (StoredResource) without those outside the compartment (and the owned
    ones of other clients), order kept."""
    resources = [r for r in resources if r.type not in OWNED_TYPES
                 or owned_by(session, client, r.type, r.id)]
    if organization is None or not resources:
        return resources
    allowed: set[tuple[str, str]] = set()
    for rtype in {r.type for r in resources}:
        ids = [r.id for r in resources if r.type == rtype]
        allowed |= {(rtype, i) for i in visible_ids(session, organization, rtype, ids)}
    return [r for r in resources if (r.type, r.id) in allowed]
