"""The finish hook: which writes of a request open a case, which change one."""

from __future__ import annotations

from typing import Any

from flask import current_app

from hub.fhirapi.hooks import WriteEvent
from hub.fhircase.changes import change_cases
from hub.fhircase.gather import is_case_episode
from hub.fhircase.opening import open_from_episode
from hub.mappings.identity import find_hub_identifier


def _lookup(uow, written: dict[str, dict[str, Any]]):
    def lookup(ref: str) -> dict[str, Any] | None:
        if ref in written:
            return written[ref]
        if ref.count("/") != 1:
            return None
        rtype, rid = ref.split("/")
        stored = uow.resources.read(rtype, rid)
        return stored.content if stored is not None and not stored.deleted else None
    return lookup


def _partners():
    return current_app.extensions["hub.runtime"].partners


def _opens_case(event: WriteEvent) -> bool:
    return (event.resource_type == "EpisodeOfCare" and event.before is None
            and event.after is not None and find_hub_identifier(event.after, "case") is None)


def on_finish(uow, events: list[WriteEvent]) -> None:
    """Open the cases of the EpisodeOfCares the request created, then apply its writes of
    other cases' resources to them (a client not bound to a partner)."""
    principal = events[0].principal
    if getattr(principal, "organization", None):
        return  # a partner's writes change cases through hub.inbound
    written: dict[str, dict[str, Any]] = {}
    for event in events:
        key = f"{event.resource_type}/{event.id}"
        if event.after is None:
            written.pop(key, None)
        else:
            written[key] = event.after
    lookup = _lookup(uow, written)
    opened: set[str] = set()
    if principal.allows("Case", "c"):
        for event in events:
            episode = event.after
            if episode is not None and _opens_case(event) \
                    and written.get(f"EpisodeOfCare/{event.id}") is episode \
                    and is_case_episode(episode, written.values()):
                case = open_from_episode(uow, episode, list(written.values()), lookup,
                                         by=principal.client_id, partners=_partners())
                opened.add(case.id)
    change_cases(uow, events, principal, _partners(), skip_cases=opened, lookup=lookup)
