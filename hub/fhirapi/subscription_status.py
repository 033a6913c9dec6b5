"""``GET Subscription/{id}/$status`` (Backport IG ``backport-subscription-status``): a
searchset with the subscription's status Parameters (``query-status``): status, events
since it started, and its error while it is in ``error``."""

from __future__ import annotations

from hub.errors import Issue, NotFound
from hub.fhirapi import interactions
from hub.fhirapi.interactions import Ctx
from hub.subscriptions import registry
from hub.subscriptions.notifications import status_bundle, status_parameters


def status(ctx: Ctx, rid: str, base: str) -> dict:
    found = interactions.read(ctx, "Subscription", rid)  # scope, compartment, 404/410
    row = registry.load(ctx.uow.session, rid)
    if row is None or found.resource is None:
        message = f"Subscription/{rid} has no status"
        raise NotFound(message, issues=[Issue(message, code="not-found")])
    errors = [registry.error_text(row)] if row.status == "error" else None
    params = status_parameters(base=base, sub_id=rid, status=row.status, type_="query-status",
                               events=row.events, topic=row.spec.topic,
                               content=row.spec.content, errors=errors)
    return status_bundle([params], base)
