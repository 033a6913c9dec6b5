"""The hub's SubscriptionTopics (R4 Backport IG: topics are canonical URLs only).

Each topic watches one resource type and says which change of it is an event, from the
previous content (None: created, or created again) and the new one (None: deleted).
Filters (``backport-filter-criteria``) are searches on that type, run by the hub's search
engine against the changed resource.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from hub.mappings.codes import HUB_CANONICAL
from hub.mappings.identity import find_hub_identifier

TOPIC_BASE = f"{HUB_CANONICAL}/SubscriptionTopic"

Trigger = Callable[[dict[str, Any] | None, dict[str, Any] | None, date], bool]


@dataclass(frozen=True)
class Topic:
    url: str
    resource_type: str
    title: str
    trigger: Trigger
    #: the search parameters of ``resource_type`` a filter may use (documentation)
    filters: tuple[str, ...]


def _body(resource: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (resource or {}).items() if k not in ("meta", "text")}


def _case_id(episode: dict[str, Any] | None) -> str | None:
    return find_hub_identifier(episode, "case") if episode else None


def _case_opened(before, after, today: date) -> bool:
    """The EpisodeOfCare becomes a case's: it carries the hub's case identifier (the
    projection of a case opened through ``/api/cases`` or ``/fhir``) and did not before."""
    return _case_id(after) is not None and _case_id(before) is None


def _plan_changed(before, after, today: date) -> bool:
    return before is not None and after is not None and _body(before) != _body(after)


def _referral_status_changed(before, after, today: date) -> bool:
    return after is not None and (before is None or before.get("status") != after.get("status"))


def _by_the_calendar(before, after, today: date) -> bool:
    """No write is a review-due event: the sync worker's daily sweep finds them
    (``hub.subscriptions.reviews``)."""
    return False


REVIEW_DUE = f"{TOPIC_BASE}/review-due"

TOPICS: dict[str, Topic] = {t.url: t for t in (
    Topic(f"{TOPIC_BASE}/case-opened", "EpisodeOfCare", "Case opened: an EpisodeOfCare becomes "
          "a case's (opened through /api/cases or /fhir)", _case_opened,
          ("patient", "status", "organization", "care-manager", "identifier")),
    Topic(f"{TOPIC_BASE}/plan-changed", "CarePlan", "Plan changed: a new version of a CarePlan "
          "whose content differs from the previous one", _plan_changed,
          ("patient", "subject", "status", "intent", "category", "identifier")),
    Topic(f"{TOPIC_BASE}/referral-status-changed", "Task", "Referral status changed: a "
          "referral Task is created or its status changes", _referral_status_changed,
          ("owner", "status", "patient", "focus", "code", "identifier")),
    Topic(REVIEW_DUE, "EpisodeOfCare", "Review due: the next monitoring review of an open "
          "case falls due (the case's review interval since its last review, or its opening, "
          "has passed); found by the daily sweep of the sync worker, focus the case's "
          "EpisodeOfCare", _by_the_calendar,
          ("patient", "status", "organization", "care-manager", "identifier")),
)}
