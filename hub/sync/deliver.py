"""The one delivery function every executor calls: an outbox row -> a partner call.

Effects are idempotent, so at-least-once delivery is effectively once:

- ``create``: POST with the hub's deterministic identifier and ``If-None-Exist`` on it (a
  retry after a lost answer finds the first copy instead of making a second);
- ``put``: PUT by the hub's id (the partner accepts client ids), If-Match once linked;
- ``update``: PUT to the partner's id from the sync ledger with ``If-Match`` its version.
  A 412 means the partner changed it: re-read the partner's version, record the conflict
  in the ledger and dead-letter the row for a human. Never overwrite blindly, never drop.
  A 404/410 means the partner lost it (restored from a backup, deleted it): the resource is
  created again (conditionally, on the hub identifier) and the ledger links the new copy;
  so is what it points at that the partner lost as well (a write refused 400/422 by a
  partner checking referential integrity, as HAPI does, is retried once after that);
- ``submit``: POST ``Type/$submit`` (or ``options.operation``) with the payload;
- ``delete``: DELETE the linked partner resource (already gone counts as done);
- ``pull``: read the partner's changes since its cursor (``hub.sync.pulls``); the pull
  handlers apply them to the cases and then move the cursor;
- ``send`` / ``cancel``: the agency-json referral calls (idempotent at the agency);
- ``poll``: search the partner with the row's query (a pended request's answers); the poll
  handler applies what it found.

Writes are rewritten for their partner first (``hub.sync.references``): references point
at the partner's patient, at the partner's ids of what the hub sent it, or are logical.
The ledger keeps a hash of what the partner holds after each write (``sent_hash``), for
``hub sync verify`` to compare with what it reads back later.

``deliver`` calls the network only; the executor records the outcome in the database.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache

from hub.adapters.errors import PartnerConflict, PartnerError, PartnerRejected
from hub.mappings.meta import strip_meta
from hub.sync.outbox import Delivery
from hub.sync.pulls import fetch_changes
from hub.sync.references import PartnerReferences, UnresolvedReference, rewrite


class LedgerError(PartnerRejected):
    """The sync ledger lacks what the operation needs (an update of a never-created copy)."""


@dataclass
class Outcome:
    """The result of one attempt: ``ok`` with the partner's id/version, or the error."""

    ok: bool
    remote_id: str | None = None
    remote_version: str | None = None
    http_status: int | None = None
    response: dict | None = None
    error: BaseException | None = None
    conflict_version: str | None = None
    #: A hash of the partner's copy after a write (``content_hash``), kept in the ledger.
    sent_hash: str | None = None
    #: What the resource points at that the partner had lost and was created again:
    #: ``{"type", "id", "remote_id", "version", "hash"}`` each, for the ledger.
    relinked: list[dict] = field(default_factory=list)


#: Elements the partner manages itself, left out of ``content_hash``.
_NOT_HASHED = ("id", "meta", "text")


def content_hash(resource: dict | None) -> str | None:
    """A stable hash of a resource's content as the partner holds it (no id, meta, text)."""
    if not resource:
        return None
    body = {k: v for k, v in resource.items() if k not in _NOT_HASHED}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sent_hash(resp, sent: dict) -> str | None:
    body = resp.resource if isinstance(resp.resource, dict) \
        and resp.resource.get("resourceType") == sent.get("resourceType") else sent
    return content_hash(body)


def _takes_identifiers(resource: dict) -> bool:
    """Whether the resource has an ``identifier`` list (Bundle has one Identifier,
    Parameters none): from the payload when it shows, else from the R4 model."""
    if "identifier" in resource:
        return isinstance(resource["identifier"], list)
    return _has_identifier_list(resource.get("resourceType", ""))


@lru_cache(maxsize=256)
def _has_identifier_list(resource_type: str) -> bool:
    from hub.fhir import model_class  # imported late: fhir.resources is slow to load

    try:
        model = model_class(resource_type)
    except (ValueError, KeyError, AttributeError):
        return False
    info = model.model_fields.get("identifier")
    return info is not None and "List" in str(info.annotation)


def _hub_identifier(delivery: Delivery, adapters) -> tuple[str, str]:
    options = delivery.options or {}
    system = str(options.get("identifier_system") or getattr(
        adapters, "identifier_system", "urn:fhir-case-hub:resource"))
    return system, f"{delivery.resource_type}/{delivery.resource_id}"


def _resolver(delivery: Delivery, adapter, adapters, *, strict: bool = True
              ) -> PartnerReferences:
    options = delivery.options or {}
    partner = (getattr(adapters, "partners", None) or {}).get(delivery.partner_id)
    return PartnerReferences(
        links=delivery.targets, receives=tuple(getattr(partner, "receives", ())),
        patient=options.get("patient"), policy=getattr(partner, "patient", "match"),
        adapter=adapter, identifier_system=_hub_system(delivery, adapters), strict=strict)


def _hub_system(delivery: Delivery, adapters) -> str:
    return _hub_identifier(delivery, adapters)[0]


def _outgoing(delivery: Delivery, adapter=None, adapters=None) -> dict:
    """A copy of the payload without our server-managed meta (version, lastUpdated), its
    references rewritten for the partner when the row asks for it (the projection's rows).

    The copy is shallow (``rewrite`` copies deeply what it changes): what the callers do
    to it is top-level (``id``) or replaces ``identifier`` (``_with_identifier``), so the
    row's payload stays as it was for another attempt (``_recreate``)."""
    resource = strip_meta(delivery.payload or {})
    resource.setdefault("resourceType", delivery.resource_type)
    options = delivery.options or {}
    if options.get("references") == "partner":
        try:
            resource = rewrite(resource, _resolver(delivery, adapter, adapters))
        except UnresolvedReference as exc:
            raise LedgerError(str(exc), partner=delivery.partner_id) from exc
    return resource


def _with_identifier(resource: dict, system: str, value: str) -> dict:
    """``resource`` with the hub's identifier in a new ``identifier`` list (the list of the
    payload it was copied from is left as it was)."""
    identifiers = list(resource.get("identifier") or [])
    if not any(i.get("system") == system and i.get("value") == value for i in identifiers):
        identifiers.append({"system": system, "value": value})
    resource["identifier"] = identifiers
    return resource


def _create(delivery: Delivery, adapter, adapters) -> Outcome:
    try:
        return _create_once(delivery, adapter, adapters)
    except PartnerRejected as exc:
        if not _refused_for_targets(exc, delivery):
            raise
        relinked = _restore_targets(delivery, adapter, adapters)
        if not relinked:
            raise
    outcome = _create_once(delivery, adapter, adapters)
    outcome.relinked = relinked + outcome.relinked
    return outcome


def _create_once(delivery: Delivery, adapter, adapters) -> Outcome:
    options = delivery.options or {}
    resource = _outgoing(delivery, adapter, adapters)
    resource.pop("id", None)
    if_none_exist = options.get("if_none_exist")
    if not if_none_exist:
        if not _takes_identifiers(resource):
            # no identifier to make the create conditional on: PUT by our id instead
            return _put(delivery, adapter, adapters)
        system, value = _hub_identifier(delivery, adapters)
        _with_identifier(resource, system, value)
        if_none_exist = f"identifier={system}|{value}"
    resp = adapter.create(resource, if_none_exist=if_none_exist)
    remote_id, version = resp.resource_id, resp.version_id
    if remote_id is None:  # a 200 without body or Location: look the copy up
        query = dict(part.split("=", 1) for part in if_none_exist.split("&"))
        found = next(iter(adapter.search(delivery.resource_type, query)), None)
        if found is not None:
            remote_id = found.get("id")
            version = (found.get("meta") or {}).get("versionId")
    return Outcome(True, remote_id, version, resp.status, None,
                   sent_hash=_sent_hash(resp, resource))


def _conflict(delivery: Delivery, adapter, remote_id: str, exc: PartnerConflict) -> Outcome:
    """412: read what the partner holds now, so the ledger shows both versions."""
    try:
        current = adapter.read(delivery.resource_type, remote_id)
        version = current.version_id
    except PartnerError:
        version = None
    return Outcome(False, remote_id, None, exc.status, exc.outcome, exc, version)


def _put_resource(delivery: Delivery, adapter, adapters, remote_id: str,
                  version: str | None) -> Outcome:
    resource = _outgoing(delivery, adapter, adapters)
    resource["id"] = remote_id
    if _takes_identifiers(resource):  # keep the copy findable by our id
        _with_identifier(resource, *_hub_identifier(delivery, adapters))
    try:
        resp = adapter.update(resource, if_match=version)
    except PartnerConflict as exc:
        if exc.precondition_failed:
            return _conflict(delivery, adapter, remote_id, exc)
        raise
    return Outcome(True, resp.resource_id or remote_id, resp.version_id, resp.status,
                   sent_hash=_sent_hash(resp, resource))


def _put(delivery: Delivery, adapter, adapters) -> Outcome:
    link = delivery.link
    remote_id = (link.remote_id if link else None) or delivery.resource_id
    return _put_resource(delivery, adapter, adapters, remote_id,
                         link.remote_version if link else None)


def _update(delivery: Delivery, adapter, adapters) -> Outcome:
    link = delivery.link
    if link is None or not link.remote_id:
        raise LedgerError(f"no link for {delivery.resource_type}/{delivery.resource_id} at "
                          f"{delivery.partner_id}: its create was never delivered",
                          partner=delivery.partner_id)
    # no version known (the partner does not version): If-Match cannot be sent
    try:
        return _put_resource(delivery, adapter, adapters, link.remote_id, link.remote_version)
    except PartnerRejected as exc:
        lost = exc.status in (404, 410)
        if not lost and not _refused_for_targets(exc, delivery):
            raise
        # the partner lost its copy, or something it points at (a HAPI-like server refuses
        # a write naming a resource it does not hold): create again what it lost
        relinked = _restore_targets(delivery, adapter, adapters)
        if not lost and not relinked:
            raise
    try:
        outcome = _recreate(delivery, adapter, adapters) if lost else _put_resource(
            delivery, adapter, adapters, link.remote_id, link.remote_version)
    except PartnerRejected as exc:
        if lost or exc.status not in (404, 410):
            raise
        outcome = _recreate(delivery, adapter, adapters)
    outcome.relinked = relinked + outcome.relinked
    return outcome


def _targets(delivery: Delivery) -> dict[str, str]:
    """``delivery.targets``, read from the ledger first where the claim left them for a
    failure to need (``Delivery.find_targets``: a write not rewritten for its partner)."""
    if delivery.find_targets is not None:
        delivery.targets = delivery.find_targets()
        delivery.find_targets = None
    return delivery.targets


def _refused_for_targets(exc: PartnerRejected, delivery: Delivery) -> bool:
    """A 400/422 to a write that points at what the ledger links (perhaps lost there)."""
    return exc.status in (400, 422) and bool(_targets(delivery))


def _restore_targets(delivery: Delivery, adapter, adapters) -> list[dict]:
    """Create again, from the hub's current version, each linked target the partner lost
    (its own references rewritten leniently); ``delivery.targets`` then names the new ids."""
    relinked: list[dict] = []
    for key, remote_id in list(_targets(delivery).items()):
        rtype, rid = key.split("/", 1)
        try:
            adapter.read(rtype, remote_id)
            continue
        except PartnerRejected as exc:
            if exc.status not in (404, 410):
                raise
        content = delivery.load(rtype, rid) if delivery.load else None
        if content is None:
            continue
        body = rewrite(copy.deepcopy(strip_meta(content)),
                       _resolver(delivery, adapter, adapters, strict=False))
        body.pop("id", None)
        if not _takes_identifiers(body):
            continue  # no identifier to create it conditionally on
        system = _hub_system(delivery, adapters)
        _with_identifier(body, system, key)
        resp = adapter.create(body, if_none_exist=f"identifier={system}|{key}")
        if resp.resource_id:
            delivery.targets[key] = resp.resource_id
            relinked.append({"type": rtype, "id": rid, "remote_id": resp.resource_id,
                             "version": resp.version_id, "hash": _sent_hash(resp, body)})
    return relinked


def _recreate(delivery: Delivery, adapter, adapters) -> Outcome:
    """Create the resource again at a partner that lost it (a conditional create on the hub
    identifier, or a PUT by our id where the resource has no identifier list)."""
    if not _takes_identifiers(delivery.payload or {"resourceType": delivery.resource_type}):
        return _put_resource(delivery, adapter, adapters, delivery.resource_id, None)
    return _create(delivery, adapter, adapters)


def _submit(delivery: Delivery, adapter, adapters) -> Outcome:
    name = (delivery.options or {}).get("operation", "$submit")
    resp = adapter.operation(delivery.resource_type, name, delivery.payload or {})
    body = resp.resource if isinstance(resp.resource, dict) else None
    return Outcome(True, (body or {}).get("id"), resp.version_id, resp.status, body)


def _delete(delivery: Delivery, adapter, adapters) -> Outcome:
    link = delivery.link
    remote_id = link.remote_id if link and link.remote_id else None
    if remote_id is None:
        return Outcome(True, None, None, None)  # never created there: nothing to delete
    resp = adapter.delete(delivery.resource_type, remote_id)
    return Outcome(True, remote_id, None, resp.status)


def _pull(delivery: Delivery, adapter, adapters) -> Outcome:
    """Read the partner's changes since the cursor (applied by the pull handlers)."""
    changes = fetch_changes(delivery, adapter)
    return Outcome(True, None, None, 200, changes)


def _send(delivery: Delivery, adapter, adapters) -> Outcome:
    """agency-json: POST the referral document queued with the row (same bytes on every
    retry; the agency answers 200 to a repeat)."""
    result = adapter.send_referral(delivery.payload or {})
    return Outcome(True, delivery.resource_id, result.state.get("updated_at"), result.status,
                   result.state)


def _cancel(delivery: Delivery, adapter, adapters) -> Outcome:
    """agency-json: cancel a sent referral (idempotent at the agency)."""
    body = delivery.payload or {}
    state = adapter.cancel_referral(delivery.resource_id, body.get("reason") or "cancelled",
                                    body.get("cancelled_at"))
    return Outcome(True, delivery.resource_id, state.get("updated_at"), 200, state)


def _poll(delivery: Delivery, adapter, adapters) -> Outcome:
    """Search the partner with the row's ``options`` (``search_type``, ``params``); the
    matches are the row's response, for the poll handler to judge."""
    options = delivery.options or {}
    found = list(adapter.search(options["search_type"], dict(options.get("params") or {})))
    return Outcome(True, None, None, 200, {"resources": found})


HANDLERS = {"create": _create, "put": _put, "update": _update, "submit": _submit,
            "delete": _delete, "pull": _pull, "send": _send, "cancel": _cancel, "poll": _poll}


def deliver(delivery: Delivery, adapters) -> Outcome:
    """Make one attempt at ``delivery`` through the adapter of its partner.

    Never raises for partner or configuration problems: they come back as a failed
    Outcome carrying the error, for the retry policy to judge.
    """
    try:
        handler = HANDLERS[delivery.operation]
        adapter = adapters.get(delivery.partner_id)
        return handler(delivery, adapter, adapters)
    except Exception as exc:
        return Outcome(False, http_status=getattr(exc, "status", None),
                       response=getattr(exc, "outcome", None), error=exc)
