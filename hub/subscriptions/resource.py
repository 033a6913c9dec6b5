"""The FHIR write path of Subscription resources (called by ``hub.fhirapi.interactions``).

- The resource is checked (``spec.parse``: rest-hook, endpoint allowlist, criteria or topic
  and filters) and its owner must be allowed to read what it watches (``r`` on the type).
- The server decides ``status``: a client asks for ``off``, or for a (re)start with
  ``requested``; topic-based subscriptions start ``requested`` and a handshake is queued
  (its success makes them ``active``, its failure ``error``); criteria-based ones start
  ``active`` (R4 has no handshake). An update that keeps the channel and says ``active``
  keeps an active subscription as it is. ``error`` is written by the server only.
- ``channel.header`` values are secrets: kept in the ``subscriptions`` row, never in the
  stored resource, so no read returns them. An update without ``channel.header`` keeps
  the headers held; one with headers replaces them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from hub.security import Principal
from hub.subscriptions import queue, registry
from hub.subscriptions.spec import Spec, parse


@dataclass
class Prepared:
    body: dict[str, Any]  # what the store keeps
    spec: Spec
    status: str
    restart: bool


def prepare(session: Session, principal: Principal, rid: str | None, body: dict[str, Any],
            prefixes: tuple[str, ...], local_base: str | None = None) -> Prepared:
    """Check a Subscription before it is written; what to store and the status."""
    spec = parse(body, prefixes, local_base)
    principal.require(spec.resource_type, "r")
    prev = registry.load(session, rid) if rid else None
    channel = body.get("channel") or {}
    if prev is not None and "header" not in channel:
        spec.headers = list(prev.spec.headers)
    wanted = body.get("status")
    if wanted == "off":
        status, restart = "off", False
    elif prev is not None and prev.status == "active" and wanted == "active" \
            and spec.same_channel(prev.spec):
        status, restart = "active", False
    else:
        status, restart = ("requested" if spec.kind == "topic" else "active"), True
    stored = copy.deepcopy(body)
    stored["status"] = status
    stored.pop("error", None)
    stored["channel"].pop("header", None)
    return Prepared(stored, spec, status, restart)


def saved(session: Session, rid: str, prepared: Prepared, principal: Principal) -> None:
    """Keep the row of a written Subscription; queue its handshake when it (re)starts."""
    registry.save(session, rid, client_id=principal.client_id,
                  organization=principal.organization, status=prepared.status,
                  spec=prepared.spec, restart=prepared.restart)
    if prepared.restart and prepared.status == "requested":
        queue.enqueue(session, rid, "handshake")


def deleted(session: Session, rid: str) -> None:
    """A deleted Subscription notifies nothing more (its queued rows are skipped)."""
    registry.remove(session, rid)
