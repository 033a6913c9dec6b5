"""Reconciliation: read back every resource the ledger links at a partner and compare it
with what the hub last sent (``hub sync verify``, ``/admin/sync/verify``).

Each link of a resource type the partner receives is read at the partner (by the
partner's id) and judged:

- ``ok``: the partner holds what the hub last wrote (same content hash, ``sent_hash``);
- ``missing``: the partner answers 404/410 (deleted, lost in a restore);
- ``changed``: the partner holds other content (changed by the partner);
- ``unknown``: cannot be judged: no hash of the last write (linked before hashes were
  kept), the hub itself no longer has the resource, or the read failed.

Repair follows the partner's ``on_drift`` policy (partners file): ``resend`` queues the
hub's current version (an update: a lost copy is created again, see ``hub.sync.deliver``;
a changed one is overwritten, If-Match the partner's current version); ``pull`` accepts a
changed copy (the ledger takes its content hash) and queues a pull of its type, so the
partner's change reaches the case; a lost copy is re-sent; ``report`` repairs nothing.
Repairs are outbox rows: the executors deliver them in order with the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, update

from hub.adapters.errors import PartnerError
from hub.fhirstore.repository import ResourceRepository
from hub.store.db import Database
from hub.store.sync_tables import outbox, sync_links
from hub.sync.deliver import content_hash
from hub.sync.outbox import WRITES, enqueue
from hub.sync.pulls import request_pull

STATES = ("ok", "missing", "changed", "unknown")


class VerifyError(ValueError):
    """The partner cannot be verified (unknown, or not a FHIR partner)."""


@dataclass
class Finding:
    """One linked resource as the partner holds it."""

    resource_type: str
    resource_id: str
    remote_id: str
    state: str
    detail: str = ""
    #: What ``--repair`` did: ``resent``, ``pulled``, or None.
    repair: str | None = None
    #: The partner's version (when it answered): the If-Match of a re-send.
    remote_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _partner(adapters, partner_id: str):
    partner = (getattr(adapters, "partners", None) or {}).get(partner_id)
    if partner is None:
        raise VerifyError(f"unknown partner {partner_id}")
    if partner.protocol != "fhir":
        raise VerifyError(f"partner {partner_id} speaks {partner.protocol}: only FHIR "
                          f"partners are read back")
    return partner


def _deleted_here(repo: ResourceRepository, link) -> bool:
    """The hub deleted the resource (the partner was sent the delete): not verified."""
    local = repo.read(link.local_type, link.local_id)
    return local is not None and local.deleted


def _judge(adapter, repo: ResourceRepository, link) -> Finding:
    finding = Finding(link.local_type, link.local_id, link.remote_id, "unknown")
    local = repo.read(link.local_type, link.local_id)
    if local is None:
        finding.detail = "the hub no longer has this resource"
        return finding
    try:
        remote = adapter.read(link.local_type, link.remote_id)
    except PartnerError as exc:
        if getattr(exc, "status", None) in (404, 410):
            finding.state, finding.detail = "missing", f"the partner answered {exc.status}"
        else:
            finding.detail = f"read failed: {type(exc).__name__} {getattr(exc, 'status', '')}"
        return finding
    finding.remote_version = remote.version_id
    if not link.sent_hash:
        finding.detail = "no record of the last version sent (linked before hashes were kept)"
        return finding
    if content_hash(remote.resource) == link.sent_hash:
        finding.state = "ok"
    else:
        finding.state, finding.detail = "changed", "the partner's copy differs from the last sent"
    return finding


def _last_write(session, partner_id: str, rtype: str, rid: str):
    """The last write row of the resource for the partner (its case and options)."""
    return session.execute(select(outbox.c.case_id, outbox.c.options).where(
        outbox.c.partner_id == partner_id, outbox.c.resource_type == rtype,
        outbox.c.resource_id == rid, outbox.c.operation.in_(WRITES))
        .order_by(outbox.c.id.desc()).limit(1)).first()


def _link_where(partner_id: str, finding: Finding):
    return (sync_links.c.partner_id == partner_id,
            sync_links.c.local_type == finding.resource_type,
            sync_links.c.local_id == finding.resource_id)


def _resend(session, repo: ResourceRepository, partner_id: str, finding: Finding) -> None:
    """Queue the hub's current version as an update (over the partner's version)."""
    local = repo.read(finding.resource_type, finding.resource_id)
    if local is None:
        return
    last = _last_write(session, partner_id, finding.resource_type, finding.resource_id)
    if finding.state == "changed":
        session.execute(update(sync_links).where(*_link_where(partner_id, finding))
                        .values(remote_version=finding.remote_version))
    enqueue(session, partner_id=partner_id, resource_type=finding.resource_type,
            resource_id=finding.resource_id, operation="update", payload=local.content,
            case_id=last.case_id if last else None, resource_version=str(local.version_id),
            options=(last.options if last else None) or {"references": "partner"})
    finding.repair = "resent"


def _accept(session, adapter, partner_id: str, finding: Finding) -> None:
    """Take the partner's change: the ledger records its content as the one in step, and a
    pull applies it to the case (which moves the ledger's version when it applies it)."""
    remote = adapter.read(finding.resource_type, finding.remote_id)
    session.execute(update(sync_links).where(*_link_where(partner_id, finding)).values(
        sent_hash=content_hash(remote.resource)))
    request_pull(session, partner_id, finding.resource_type)
    finding.repair = "pulled"


def verify_partner(db: Database, adapters, partner_id: str, *, repair: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> list[Finding]:
    """Every linked resource of the partner, judged (and repaired per its ``on_drift``);
    ``progress(done, total)`` is told after each resource read back."""
    partner = _partner(adapters, partner_id)
    adapter = adapters.get(partner_id)
    with db.sessions() as session:
        links = session.execute(select(sync_links).where(
            sync_links.c.partner_id == partner_id, sync_links.c.remote_id.is_not(None),
            sync_links.c.local_type.in_(partner.receives))
            .order_by(sync_links.c.local_type, sync_links.c.local_id)).all()
        repo = ResourceRepository(session)
        findings = []
        for done, link in enumerate(links, start=1):
            if not _deleted_here(repo, link):
                findings.append(_judge(adapter, repo, link))
            if progress is not None:
                progress(done, len(links))
        if repair and partner.on_drift != "report":
            for finding in findings:
                if finding.state == "missing" or (
                        finding.state == "changed" and partner.on_drift == "resend"):
                    _resend(session, repo, partner_id, finding)
                elif finding.state == "changed" and partner.on_drift == "pull":
                    _accept(session, adapter, partner_id, finding)
            session.commit()
    return findings


def summary(findings: list[Finding]) -> dict[str, int]:
    """How many resources are in each state."""
    out = dict.fromkeys(STATES, 0)
    for finding in findings:
        out[finding.state] += 1
    return out
