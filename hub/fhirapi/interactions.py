"""The FHIR interactions on one resource type: read, vread, create, update, delete, history.

Each takes a ``Ctx`` (the unit of work, the caller, the write hooks) and returns a
``Result``; the REST routes and the Bundle processor render it. Every interaction checks
the caller's scope first (read/vread/history=r, create=c, update=u, delete=d) and
validates before writing; nothing is written on error because the caller only commits
after a Result came back. A client bound to an Organization only reaches the resources of
its compartment (``compartments``): others are 404 (their existence is not revealed, and a
hidden id answers exactly like an absent one: such a client never chooses the id of a new
resource), its writes may only reference what it sees and must land in the compartment
(``write_checks``, 403). Every write leaves a Provenance; Provenance and AuditEvent are
written by the server only (405 on any create, update or delete of them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from hub.audit.events import Access
from hub.errors import (
    BadRequest,
    Conflict,
    Gone,
    Issue,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
)
from hub.etag import etag_version
from hub.fhirapi import auditlog, provenance, task_rules, write_checks
from hub.fhirapi.hooks import WriteEvent
from hub.fhirapi.validation import check_type, valid_id, validate_resource
from hub.fhirstore import compartments
from hub.fhirstore.query import SearchQuery, parse_search
from hub.fhirstore.repository import (
    ConditionalKeyTaken,
    ResourceRepository,
    StoredResource,
    VersionConflict,
    new_resource_id,
)
from hub.security import Principal
from hub.store.uow import UnitOfWork
from hub.subscriptions import resource as subscription_resource


@dataclass
class Ctx:
    """Everything an interaction needs: the transaction, the caller and the hooks."""

    uow: UnitOfWork
    principal: Principal
    hooks: list = field(default_factory=list)
    default_count: int = 20
    max_count: int = 200
    #: in a transaction: the partner-write checks, run once all entries are written
    deferred: list | None = None
    #: what this request touched, for its AuditEvent (``hub.audit``)
    access: Access = field(default_factory=Access)
    #: the writes of this request, in order, for the finish hooks (``hooks``)
    events: list[WriteEvent] = field(default_factory=list)

    @property
    def repo(self) -> ResourceRepository:
        return self.uow.resources

    def require(self, resource_type: str, perm: str) -> None:
        """403 unless the caller's scopes grant each letter of ``perm`` on the type."""
        for letter in perm:
            self.principal.require(resource_type, letter)

    def may(self, resource_type: str, perm: str) -> bool:
        return self.principal.allows(resource_type, perm)

    @property
    def compartment(self) -> str | None:
        """The Organization the caller is bound to (None: the hub's own clients)."""
        return self.principal.organization

    @property
    def client(self) -> str | None:
        """The caller's client id: of an owned type (Subscription) it sees its own only."""
        return self.principal.client_id

    def visible(self, rtype: str, rid: str) -> bool:
        """Whether ``rtype/rid`` is inside the caller's compartment (always, if unbound)
        and, of an owned type, the caller's own (``compartments.OWNED_TYPES``)."""
        return compartments.is_visible(self.uow.session, self.compartment, rtype, rid,
                                       client=self.client)


@dataclass
class Result:
    """What an interaction produced: an HTTP status and the version concerned."""

    status: int
    resource: StoredResource | None = None
    message: str = ""


def if_match_version(value: str | None) -> int | None:
    """The version an ``If-Match`` names (``W/"3"``); None if absent; 400 if it names none."""
    try:
        return etag_version(value)
    except ValueError:
        raise BadRequest(f"not a version ETag: {value!r}", issues=[Issue(
            f"not a version ETag: {value!r}", code="value", path="If-Match")]) from None


def _not_found(rtype: str, rid: str) -> NotFound:
    return NotFound(f"{rtype}/{rid} is not known", issues=[Issue(
        f"{rtype}/{rid} is not known", code="not-found")])


def _gone(res: StoredResource) -> Gone:
    return Gone(f"{res.type}/{res.id} was deleted", headers={"ETag": res.etag})


def read(ctx: Ctx, rtype: str, rid: str) -> Result:
    check_type(rtype)
    if rtype == "AuditEvent":
        return Result(200, auditlog.read(ctx, rid))
    ctx.require(rtype, "r")
    res = ctx.repo.read(rtype, rid) if valid_id(rid) else None
    if res is None or not ctx.visible(rtype, rid):
        raise _not_found(rtype, rid)
    if res.deleted:
        raise _gone(res)
    ctx.access.saw("read", f"{rtype}/{rid}/_history/{res.version_id}", res.peek())
    return Result(200, res)


def vread(ctx: Ctx, rtype: str, rid: str, vid: str) -> Result:
    check_type(rtype)
    if rtype == "AuditEvent":
        raise NotFound(f"{rtype}/{rid} has no version {vid}")  # AuditEvents have none
    ctx.require(rtype, "r")
    res = ctx.repo.vread(rtype, rid, int(vid)) if vid.isdigit() and valid_id(rid) else None
    if res is None or not ctx.visible(rtype, rid):
        raise NotFound(f"{rtype}/{rid} has no version {vid}")
    if res.deleted:
        raise _gone(res)
    ctx.access.saw("vread", f"{rtype}/{rid}/_history/{res.version_id}", res.peek())
    return Result(200, res)


def history(ctx: Ctx, rtype: str, rid: str | None, since, count: int, offset: int):
    """(versions newest first, total) of a resource or of a type. SMART: instance history
    is ``r``; type history is ``s``, and the versions it returns are bodies: ``r`` too."""
    check_type(rtype)
    if rtype == "AuditEvent":
        raise MethodNotAllowed("AuditEvent keeps no history: each is written once",
                               issues=[Issue("AuditEvent keeps no history",
                                             code="not-supported")])
    ctx.require(rtype, "r" if rid is not None else "rs")
    if rid is not None and not (ctx.repo.exists_ever(rtype, rid) and ctx.visible(rtype, rid)):
        raise _not_found(rtype, rid)
    versions, total = ctx.repo.history(rtype, rid, since=since, count=count, offset=offset,
                                       compartment=ctx.compartment, client=ctx.client)
    if rid is None:
        ctx.access.searched("history-type", rtype, [])
    else:
        ctx.access.saw("history-instance", f"{rtype}/{rid}",
                       next((v.content for v in versions if v.content), None))
    return versions, total


def parse_condition(ctx: Ctx, rtype: str, items: list[tuple[str, str]]) -> SearchQuery:
    """A conditional interaction's query: strict, every parameter must be understood."""
    q = parse_search(rtype, items, strict=True, default_count=2, max_count=2,
                     local_base=ctx.repo.local_base)
    if not q.criteria:
        raise BadRequest("a conditional interaction needs search criteria")
    q.count, q.offset, q.includes, q.revincludes = 2, 0, [], []
    q.compartment, q.client = ctx.compartment, ctx.client
    return q


def condition_key(rtype: str, items: list[tuple[str, str]]) -> str:
    """The conditional-create guard key of a normalized query."""
    text = rtype + "?" + urlencode(sorted(items))
    return hashlib.sha256(text.encode()).hexdigest()


def find_conditional(ctx: Ctx, rtype: str, items: list[tuple[str, str]]):
    """The matches (at most 2) of a conditional query."""
    return ctx.repo.search(parse_condition(ctx, rtype, items))


#: Types only the server writes (Provenance of every write, AuditEvent of every access).
SERVER_WRITTEN = frozenset({"Provenance", "AuditEvent"})


def _server_written(rtype: str) -> None:
    if rtype in SERVER_WRITTEN:
        message = f"{rtype} is written by the server only"
        raise MethodNotAllowed(message, issues=[Issue(message, code="not-supported")])


def run_deferred(ctx: Ctx) -> None:
    """Run the partner-write checks a transaction deferred until all entries were written."""
    checks, ctx.deferred = ctx.deferred or [], None
    for check in checks:
        check()


def _event(ctx: Ctx, interaction: str, before: dict | None,
           res: StoredResource, *, server_id: bool = False) -> WriteEvent:
    return WriteEvent(interaction, res.type, res.id, before, res.content, res.version_id,
                      ctx.principal, server_id)


def _hooks(ctx: Ctx, event: WriteEvent, res: StoredResource) -> None:
    """The partner-write checks and the registered hooks of a write."""
    before = event.before
    ctx.access.saw(event.interaction, f"{res.type}/{res.id}/_history/{res.version_id}",
                   res.content or before)
    org = ctx.compartment
    if org and res.content is not None:
        def check(res=res):
            write_checks.check_write(ctx.uow.session, org, res.type, res.id, res.content,
                                     before)
        if ctx.deferred is not None:
            ctx.deferred.append(check)
        else:
            check()
    for hook in ctx.hooks:
        hook(ctx.uow, event)
    ctx.events.append(event)


def _changed(ctx: Ctx, interaction: str, before: dict | None, res: StoredResource) -> None:
    """After an update or a delete: its checks and hooks, then its Provenance."""
    event = _event(ctx, interaction, before, res)
    _hooks(ctx, event, res)
    provenance.record(ctx.uow, event)


def _store_created(ctx: Ctx, rtype: str, body: dict, rid: str | None, *,
                   by_partner: bool, server_id: bool = False
                   ) -> tuple[StoredResource, WriteEvent]:
    """Version 1 of a new resource and its Provenance, built first and written together
    (one statement per table); its checks and hooks (``_hooks``) then see it written, as
    after any write."""
    version = ctx.repo.new_created(rtype, body, rid, by_partner=by_partner)
    event = _event(ctx, "create", None, version.stored, server_id=server_id)
    prov = provenance.new_version(ctx.uow, event)
    res = ctx.repo.store_versions([version] if prov is None else [version, prov])[0]
    return res, event


def _subscription(ctx: Ctx, rtype: str, rid: str | None, body: dict
                  ) -> tuple[dict, subscription_resource.Prepared | None]:
    """A Subscription is checked and given its server-decided status before it is written
    (``hub.subscriptions.resource``); other types pass unchanged."""
    if rtype != "Subscription":
        return body, None
    prepared = subscription_resource.prepare(
        ctx.uow.session, ctx.principal, rid, body, ctx.uow.db.subscription_endpoints,
        ctx.repo.local_base)
    return prepared.body, prepared


def _subscription_saved(ctx: Ctx, res: StoredResource,
                        prepared: subscription_resource.Prepared | None) -> None:
    if prepared is not None:
        subscription_resource.saved(ctx.uow.session, res.id, prepared, ctx.principal)


def create(ctx: Ctx, rtype: str, body: dict, if_none_exist: str | None = None,
           rid: str | None = None) -> Result:
    """Create (201); with ``if_none_exist`` 200 and the match if one exists, 412 if many.

    Scopes: ``c``; a conditional create is a search too (``s``), and the match is handed
    back only to a caller that may read it (``r``): otherwise 200 without the resource.
    """
    check_type(rtype)
    _server_written(rtype)
    ctx.require(rtype, "cs" if if_none_exist else "c")
    server_id = rid is None  # the id is made up here (or by the repository), never a client's
    validate_resource(body, expected_type=rtype)
    if if_none_exist:
        items = parse_qsl(if_none_exist.split("?", 1)[-1], keep_blank_values=True)
        matches = find_conditional(ctx, rtype, items)
        if len(matches) > 1:
            raise PreconditionFailed(f"If-None-Exist matches more than one {rtype}")
        if matches:
            if not ctx.may(rtype, "r"):
                return Result(200, None, "an existing resource matched If-None-Exist; "
                                         "nothing was created")
            return Result(200, matches[0], "an existing resource matched If-None-Exist")
        rid = rid or _new_id()
        _claim(ctx, rtype, items, rid)
    body, subscription = _subscription(ctx, rtype, None, body)
    res, event = _store_created(ctx, rtype, body, rid, by_partner=bool(ctx.compartment),
                                server_id=server_id)
    _subscription_saved(ctx, res, subscription)
    _hooks(ctx, event, res)
    return Result(201, res, f"created {rtype}/{res.id}")


def _new_id() -> str:
    return new_resource_id()


def _claim(ctx: Ctx, rtype: str, items, rid: str) -> None:
    """Claim the conditional-create guard of ``items`` (see ResourceRepository)."""
    key = condition_key(rtype, items)
    holder = ctx.repo.conditional_holder(rtype, key)
    if holder is not None:
        q = parse_condition(ctx, rtype, [*items, ("_id", holder)])
        if ctx.repo.search(q):
            raise ConditionalKeyTaken(key)  # committed meanwhile: retry finds it
    ctx.repo.claim_conditional_key(rtype, key, rid, holder)


def update(ctx: Ctx, rtype: str, rid: str, body: dict, if_match: int | None) -> Result:
    """Update (200) or create with the client's id (201); If-Match is optimistic locking.

    Scopes: ``u``; creating through PUT (no live version) needs ``c`` as well.
    """
    check_type(rtype)
    _server_written(rtype)
    ctx.require(rtype, "u")
    if not valid_id(rid):
        raise BadRequest(f"{rid!r} is not a valid resource id")
    validate_resource(body, expected_type=rtype, expected_id=rid)
    prev = ctx.repo.read(rtype, rid)
    if ctx.compartment and not _partner_may_change(ctx, prev, body):
        raise _not_found(rtype, rid)  # hidden, absent or not its Task: one answer
    if prev is not None and rtype in compartments.OWNED_TYPES and not ctx.visible(rtype, rid):
        raise _not_found(rtype, rid)  # another client's: as absent (its id is taken)
    before = prev.content if prev is not None and not prev.deleted else None
    live = before is not None
    if not live:
        ctx.require(rtype, "c")
    if if_match is not None and (prev is None or prev.version_id != if_match):
        raise PreconditionFailed(
            f"If-Match version {if_match} is not the current version of {rtype}/{rid}",
            headers={"ETag": prev.etag} if prev else None)
    if rtype == "Task" and before is not None:
        if if_match is None:
            raise PreconditionRequired("an update of a Task needs If-Match with its version",
                                       path="If-Match")
        task_rules.check_task_transition(before, body, ctx.principal.organization)
    body, subscription = _subscription(ctx, rtype, rid, body)
    try:
        res = ctx.repo.update(rtype, rid, body,
                              expected_version=prev.version_id if prev else None,
                              by_partner=bool(ctx.compartment))
    except VersionConflict as exc:
        if if_match is not None:
            raise PreconditionFailed(str(exc)) from None
        raise Conflict(str(exc)) from None
    _subscription_saved(ctx, res, subscription)
    _changed(ctx, "update", before, res)
    return Result(200 if live else 201, res, f"updated {rtype}/{rid}")


def _partner_may_change(ctx: Ctx, prev: StoredResource | None, body: dict | None) -> bool:
    """A bound client changes only live resources of its compartment (never creates one
    with its own id), and a Task only as its owner or claiming it (``write_checks``)."""
    if prev is None or prev.deleted or not ctx.visible(prev.type, prev.id):
        return False
    # a bound client always has a compartment; without one nothing is allowed (fail closed)
    return prev.type != "Task" or write_checks.task_change_allowed(
        ctx.compartment or "", prev.content or {}, body)


def _partner_may_delete(ctx: Ctx, prev: StoredResource) -> bool:
    if not ctx.visible(prev.type, prev.id):
        return False
    return prev.type != "Task" or prev.deleted or write_checks.task_change_allowed(
        ctx.compartment or "", prev.content or {}, None)


def conditional_update(ctx: Ctx, rtype: str, items: list[tuple[str, str]], body: dict,
                       if_match: int | None, server_id: str | None = None) -> Result:
    """``PUT Type?query``: update the single match, create if none, 412 if many
    (``server_id``: the id a transaction assigned to the resource if it is created).
    Scopes: ``u`` and ``s`` (the query), ``c`` when nothing matches."""
    check_type(rtype)
    _server_written(rtype)
    ctx.require(rtype, "us")
    matches = find_conditional(ctx, rtype, items)
    if len(matches) > 1:
        raise PreconditionFailed(f"the conditional update matches more than one {rtype}")
    if matches:
        target = matches[0].id
        if body.get("id") not in (None, target):
            raise BadRequest(f"the resource id does not match the {rtype} found",
                             path=f"{rtype}.id")
        return update(ctx, rtype, target, {**body, "id": target}, if_match)
    ctx.require(rtype, "c")
    if ctx.compartment and body.get("id"):
        raise _not_found(rtype, str(body["id"]))  # no client ids: hidden == absent
    rid = body.get("id") or server_id or _new_id()
    if not valid_id(rid) or ctx.repo.exists_ever(rtype, rid):
        raise Conflict(f"{rtype}/{rid} exists but does not match the condition")
    validate_resource(body, expected_type=rtype)
    _claim(ctx, rtype, items, rid)
    if ctx.compartment:
        body, subscription = _subscription(ctx, rtype, None, {**body, "id": rid})
        res, event = _store_created(ctx, rtype, body, rid, by_partner=True)
        _subscription_saved(ctx, res, subscription)
        _hooks(ctx, event, res)
        return Result(201, res, f"created {rtype}/{rid}")
    return update(ctx, rtype, rid, {**body, "id": rid}, None)


def delete(ctx: Ctx, rtype: str, rid: str) -> Result:
    """Delete (204); deleting a deleted or never-stored resource is a no-op (R4: a delete
    of a resource that does not exist answers 200/204); for a bound client one outside
    its compartment (or a Task it may not change) answers the same, changing nothing."""
    check_type(rtype)
    _server_written(rtype)
    ctx.require(rtype, "d")
    if not valid_id(rid):
        raise BadRequest(f"{rid!r} is not a valid resource id")
    prev = ctx.repo.read(rtype, rid)
    if prev is None or (ctx.compartment and not _partner_may_delete(ctx, prev)) or (
            rtype in compartments.OWNED_TYPES and not ctx.visible(rtype, rid)):
        # hidden (or not its Task) answers exactly like never stored: nothing to delete
        return Result(204, None, f"{rtype}/{rid} does not exist: nothing to delete")
    res = ctx.repo.delete(rtype, rid)
    if res is not None:
        if rtype == "Subscription":
            subscription_resource.deleted(ctx.uow.session, rid)
        _changed(ctx, "delete", prev.content, res)
    return Result(204, res, f"deleted {rtype}/{rid}")


def conditional_delete(ctx: Ctx, rtype: str, items: list[tuple[str, str]]) -> Result:
    """``DELETE Type?query`` (R4 conditional delete, single): no match or one match is an
    ordinary delete (204), several matches 412. Scopes: ``d`` and ``s`` (the query)."""
    check_type(rtype)
    ctx.require(rtype, "ds")
    matches = find_conditional(ctx, rtype, items)
    if len(matches) > 1:
        raise PreconditionFailed(f"the conditional delete matches more than one {rtype}")
    if not matches:
        return Result(204, None, f"no {rtype} matches: nothing to delete")
    return delete(ctx, rtype, matches[0].id)

