"""Notification Bundles (R4 Backport IG ``backport-subscription-notification-r4``) and the
status Parameters (``backport-subscription-status-r4``). Pure.

A notification is a ``history`` Bundle whose first entry is the status Parameters (request
``GET [base]/Subscription/{id}/$status``); ``id-only`` adds an entry per focus without its
resource, ``full-resource`` with it, ``empty`` none (and no focus, no topic).
"""

from __future__ import annotations

import uuid
from typing import Any

from hub.etag import weak_etag
from hub.subscriptions.spec import PROFILE_NOTIFICATION, PROFILE_STATUS

TYPES = ("handshake", "heartbeat", "event-notification", "query-status")


def status_parameters(*, base: str, sub_id: str, status: str, type_: str, events: int,
                      topic: str | None = None, event: dict[str, Any] | None = None,
                      content: str = "id-only", errors: list[str] | None = None
                      ) -> dict[str, Any]:
    """The SubscriptionStatus as R4 Parameters. ``event``: the row payload of an event
    (``event``, ``timestamp``, ``focus``)."""
    params: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{sub_id}"}}]
    if topic and content != "empty":
        params.append({"name": "topic", "valueCanonical": topic})
    params += [{"name": "status", "valueCode": status}, {"name": "type", "valueCode": type_},
               {"name": "events-since-subscription-start", "valueString": str(events)}]
    if event is not None:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event["event"])},
            {"name": "timestamp", "valueInstant": event["timestamp"]}]
        if content != "empty":
            parts.append({"name": "focus",
                          "valueReference": {"reference": f"{base}/{event['focus']}"}})
        params.append({"name": "notification-event", "part": parts})
    for text in errors or []:
        params.append({"name": "error", "valueCodeableConcept": {"text": text}})
    return {"resourceType": "Parameters", "meta": {"profile": [PROFILE_STATUS]},
            "parameter": params}


def _focus_entry(base: str, event: dict[str, Any], content: str) -> dict[str, Any]:
    rtype, rid = event["focus"].split("/", 1)
    created = bool(event.get("created"))
    entry: dict[str, Any] = {"fullUrl": f"{base}/{rtype}/{rid}"}
    if content == "full-resource" and event.get("resource"):
        entry["resource"] = event["resource"]
    if event.get("deleted"):  # a deleted focus: its id, no resource
        entry["request"] = {"method": "DELETE", "url": f"{rtype}/{rid}"}
        entry["response"] = {"status": "204 No Content"}
    else:
        entry["request"] = {"method": "POST", "url": rtype} if created \
            else {"method": "PUT", "url": f"{rtype}/{rid}"}
        entry["response"] = {"status": "201 Created" if created else "200 OK"}
    if event.get("version"):
        entry["response"]["etag"] = weak_etag(int(event["version"]))
    return entry


def notification_bundle(*, base: str, sub_id: str, status: str, type_: str, events: int,
                        timestamp: str, topic: str | None = None, content: str = "id-only",
                        event: dict[str, Any] | None = None,
                        errors: list[str] | None = None) -> dict[str, Any]:
    """A topic-based notification (handshake, heartbeat or one event)."""
    params = status_parameters(base=base, sub_id=sub_id, status=status, type_=type_,
                               events=events, topic=topic, event=event, content=content,
                               errors=errors)
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": params,
                "request": {"method": "GET", "url": f"{base}/Subscription/{sub_id}/$status"},
                "response": {"status": "200"}}]
    if event is not None and content != "empty":
        entries.append(_focus_entry(base, event, content))
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()),
            "meta": {"profile": [PROFILE_NOTIFICATION]}, "type": "history",
            "timestamp": timestamp, "entry": entries}


def status_bundle(parameters: list[dict[str, Any]], base: str) -> dict[str, Any]:
    """``$status``: a searchset of status Parameters."""
    return {"resourceType": "Bundle", "type": "searchset", "total": len(parameters),
            "link": [{"relation": "self", "url": f"{base}/Subscription/$status"}],
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": p,
                       "search": {"mode": "match"}} for p in parameters]}
