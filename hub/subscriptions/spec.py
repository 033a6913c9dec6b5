"""A Subscription resource parsed and checked: what the hub will notify, where and how.

Two forms (DOMAIN-2 §10):

- **criteria-based** (R4): ``criteria`` is a search, ``Type?params``; a change of a
  resource of that type is notified when the search, run by the hub's search engine, finds
  it. rest-hook: without ``channel.payload`` an empty POST to the endpoint; with it a
  ``PUT [endpoint]/[Type]/[id]`` of the resource.
- **topic-based** (Backport IG 1.1.0): ``criteria`` is one of the hub's topic canonicals
  (``hub.subscriptions.topics``), ``criteria.extension[backport-filter-criteria]`` are
  searches on the topic's type (all must match), ``channel.payload`` carries
  ``backport-payload-content`` (``empty``, ``id-only``, ``full-resource``),
  ``channel.extension[backport-heartbeat-period]`` asks for heartbeats. Notifications are
  ``history`` Bundles POSTed to the endpoint.

The endpoint must start with one of the prefixes of ``HUB_SUBSCRIPTION_ENDPOINTS``
(comma-separated; empty: every rest-hook Subscription is refused, 422).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from hub.adapters.outbound import under_prefix
from hub.errors import HubError, Issue, ValidationFailed
from hub.fhirstore.query import parse_search
from hub.fhirstore.searchparams import SUPPORTED_TYPES
from hub.subscriptions.topics import TOPICS

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"
BACKPORT_SD = f"{BACKPORT}/StructureDefinition"
EXT_FILTER = f"{BACKPORT_SD}/backport-filter-criteria"
EXT_PAYLOAD = f"{BACKPORT_SD}/backport-payload-content"
EXT_HEARTBEAT = f"{BACKPORT_SD}/backport-heartbeat-period"
EXT_TIMEOUT = f"{BACKPORT_SD}/backport-timeout"
EXT_MAX_COUNT = f"{BACKPORT_SD}/backport-max-count"
EXT_TOPIC_CANONICAL = f"{BACKPORT_SD}/capabilitystatement-subscriptiontopic-canonical"
PROFILE_SUBSCRIPTION = f"{BACKPORT_SD}/backport-subscription"
PROFILE_NOTIFICATION = f"{BACKPORT_SD}/backport-subscription-notification-r4"
PROFILE_STATUS = f"{BACKPORT_SD}/backport-subscription-status-r4"
OP_STATUS = f"{BACKPORT}/OperationDefinition/backport-subscription-status"
SERVER_CAPABILITY = f"{BACKPORT}/CapabilityStatement/backport-subscription-server-r4"

CONTENTS = ("empty", "id-only", "full-resource")
#: The MIME types of channel.payload the hub sends (JSON only).
JSON_TYPES = ("application/fhir+json", "application/json")
#: Types no subscription watches: the server's own records and the subscriptions.
UNWATCHED = frozenset({"Subscription", "Provenance", "AuditEvent"})
#: The shortest heartbeat period accepted (seconds).
MIN_HEARTBEAT = 1
#: Header names the hub sets itself on a notification.
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "transfer-encoding"})


@dataclass
class Spec:
    """What the hub keeps of a Subscription to notify it (``subscriptions.spec``)."""

    kind: str  # "criteria" | "topic"
    resource_type: str
    criteria: str  # the search (``Type?params``) or the topic canonical
    endpoint: str
    content: str  # empty | id-only | full-resource
    payload: str | None = None  # channel.payload, the MIME type
    filters: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)  # secrets: never in the resource
    heartbeat: int | None = None  # seconds
    timeout: int | None = None  # seconds per attempt

    @property
    def topic(self) -> str | None:
        return self.criteria if self.kind == "topic" else None

    def to_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, data: dict[str, Any]) -> Spec:
        return cls(**data)

    def same_channel(self, other: Spec | None) -> bool:
        """Whether ``other`` notifies the same events the same way (no new handshake)."""
        return other is not None and self.to_row() == other.to_row()


def parse_prefixes(text: str) -> tuple[str, ...]:
    """The prefixes of ``HUB_SUBSCRIPTION_ENDPOINTS`` (comma or space separated)."""
    return tuple(p for p in text.replace(",", " ").split() if p)


def endpoint_allowed(url: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``url`` is under one of ``prefixes`` (``hub.adapters.outbound.under_prefix``)."""
    return under_prefix(url, prefixes)


def _invalid(message: str, path: str, code: str = "invalid") -> ValidationFailed:
    return ValidationFailed(message, issues=[Issue(message, code=code, path=path)])


def _extensions(node: dict[str, Any] | None, url: str) -> list[dict[str, Any]]:
    return [e for e in (node or {}).get("extension") or [] if e.get("url") == url]


def _one_value(node: dict[str, Any] | None, url: str, key: str) -> Any:
    found = _extensions(node, url)
    return found[0].get(key) if found else None


def parse_query(resource_type: str, text: str, path: str,
                local_base: str | None = None) -> list[tuple[str, str]]:
    """The parameters of a search ``Type?params`` on ``resource_type`` (parsed strictly by
    the hub's search engine: an unknown parameter is refused)."""
    rtype, _, query = text.partition("?")
    if rtype != resource_type:
        raise _invalid(f"{text!r} must be a search on {resource_type}", path)
    items = parse_qsl(query, keep_blank_values=True)
    if any(name.startswith("_") and name not in ("_id", "_lastUpdated") for name, _ in items):
        raise _invalid(f"{text!r}: only search parameters that select resources are "
                       f"allowed", path)
    try:
        parse_search(resource_type, items, strict=True, local_base=local_base)
    except HubError as exc:  # 400 from the parser: here the resource is what is invalid
        raise _invalid(f"{text!r} is not a search the hub understands: "
                       f"{exc.message}", path) from None
    return items


def _criteria_type(criteria: str) -> str:
    rtype = criteria.split("?", 1)[0]
    if rtype not in SUPPORTED_TYPES or rtype in UNWATCHED:
        raise _invalid(f"criteria {criteria!r}: {rtype or 'no type'} is not a resource "
                       f"type the hub notifies", "Subscription.criteria")
    return rtype


def _headers(channel: dict[str, Any]) -> list[str]:
    out = []
    for i, header in enumerate(channel.get("header") or []):
        name, sep, value = str(header).partition(":")
        if not sep or not name.strip() or any(c in header for c in "\r\n") \
                or name.strip().lower() in RESERVED_HEADERS:
            raise _invalid("channel.header must be 'Name: value' (no line breaks, not a "
                           "header the hub sets)", f"Subscription.channel.header[{i}]")
        out.append(f"{name.strip()}: {value.strip()}")
    return out


def _seconds(channel: dict[str, Any], url: str, name: str) -> int | None:
    value = _one_value(channel, url, "valueUnsignedInt")
    if value is None:
        return None
    if not isinstance(value, int) or value < MIN_HEARTBEAT:
        raise _invalid(f"{name} must be at least {MIN_HEARTBEAT} second",
                       "Subscription.channel.extension")
    return value


def parse(body: dict[str, Any], prefixes: tuple[str, ...],
          local_base: str | None = None) -> Spec:
    """The Spec of a Subscription resource, or ValidationFailed (422) naming the element."""
    channel = body.get("channel") or {}
    if channel.get("type") != "rest-hook":
        raise _invalid(f"channel.type {channel.get('type')!r} is not supported: the hub "
                       f"offers rest-hook only", "Subscription.channel.type", "not-supported")
    endpoint = channel.get("endpoint")
    if not endpoint:
        raise _invalid("a rest-hook Subscription needs channel.endpoint",
                       "Subscription.channel.endpoint", "required")
    if not endpoint_allowed(endpoint, prefixes):
        raise _invalid("channel.endpoint is not under an allowed prefix "
                       "(HUB_SUBSCRIPTION_ENDPOINTS)", "Subscription.channel.endpoint",
                       "security")
    headers = _headers(channel)
    criteria = str(body.get("criteria") or "")
    payload = channel.get("payload")
    if payload and payload.split(";")[0].strip() not in JSON_TYPES:
        raise _invalid(f"channel.payload {payload!r} is not supported: the hub sends "
                       f"{' or '.join(JSON_TYPES)}", "Subscription.channel.payload",
                       "not-supported")
    timeout = _seconds(channel, EXT_TIMEOUT, "backport-timeout")
    topic = TOPICS.get(criteria)
    if topic is None and criteria.startswith(("http://", "https://")):
        raise _invalid(f"criteria {criteria!r} is not a SubscriptionTopic of this server "
                       f"(see CapabilityStatement: capabilitystatement-subscriptiontopic-"
                       f"canonical)", "Subscription.criteria", "not-supported")
    if topic is None:
        rtype = _criteria_type(criteria)
        parse_query(rtype, criteria, "Subscription.criteria", local_base)
        return Spec("criteria", rtype, criteria, endpoint,
                    "full-resource" if payload else "empty", payload, headers=headers,
                    timeout=timeout)
    filters = []
    for i, ext in enumerate(_extensions(body.get("_criteria"), EXT_FILTER)):
        text = str(ext.get("valueString") or "")
        path = f"Subscription.criteria.extension[{i}]"
        parse_query(topic.resource_type, text, path, local_base)
        filters.append(text)
    content = _one_value(channel.get("_payload"), EXT_PAYLOAD, "valueCode") or "id-only"
    if content not in CONTENTS:
        raise _invalid(f"backport-payload-content must be one of {', '.join(CONTENTS)}",
                       "Subscription.channel.payload.extension")
    return Spec("topic", topic.resource_type, criteria, endpoint, content,
                payload or "application/fhir+json", filters, headers,
                _seconds(channel, EXT_HEARTBEAT, "backport-heartbeat-period"), timeout)
