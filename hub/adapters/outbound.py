"""Where the hub may send HTTP requests: an allowlist of origins (no SSRF).

The hub calls only origins an operator configured: each partner's ``base_url`` and
``auth.token_url`` (partners file) and ``HUB_OUTBOUND_ALLOWLIST`` (origins such as
``https://fhir.insurer.example``, or bare host names meaning ``https://host``). A URL that
a client or a partner supplies (a paging link, a redirect, a Location, later a Subscription
endpoint) is called only when its origin is on that list. ``GuardedSession`` checks every
request it sends, each redirect hop included.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from hub.adapters.errors import PartnerError

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Keep-alive connections kept per partner origin (the delivery threads of a worker, the
#: Celery batch) before requests closes the extra ones after each call.
POOL_MAXSIZE = 32
Origin = tuple[str, str, int]


class OutboundRefused(PartnerError):
    """A request to an origin that is not on the allowlist: nothing was sent, and trying
    again cannot help (not retryable: the delivery is dead-lettered, visible)."""


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an absolute http(s) URL; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username \
            or parts.password:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


def parse_allowlist(text: str) -> frozenset[Origin]:
    """The origins of ``HUB_OUTBOUND_ALLOWLIST`` (space or comma separated); ValueError
    names an entry that is not an http(s) origin or a host name."""
    origins = set()
    for entry in text.replace(",", " ").split():
        url = entry if "://" in entry else f"https://{entry}"
        found = origin_of(url)
        if found is None or urlsplit(url).path not in ("", "/"):
            raise ValueError(f"HUB_OUTBOUND_ALLOWLIST: {entry!r} is not an origin "
                             f"(https://host[:port]) or a host name")
        origins.add(found)
    return frozenset(origins)


class OutboundPolicy:
    """The origins the hub may call."""

    def __init__(self, origins: Iterable[Origin]) -> None:
        self.origins = frozenset(origins)

    @classmethod
    def of(cls, urls: Iterable[str | None], allowlist: str = "") -> OutboundPolicy:
        """The origins of ``urls`` (configured partner URLs) and of the allowlist text."""
        found = {origin_of(u) for u in urls if u}
        return cls({o for o in found if o} | parse_allowlist(allowlist))

    def allows(self, url: str) -> bool:
        found = origin_of(url)
        return found is not None and found in self.origins

    def check(self, url: str, partner: str | None = None) -> str:
        """``url``, or OutboundRefused when its origin is not allowed."""
        if not self.allows(url):
            shown = url.split("?", 1)[0][:200]
            raise OutboundRefused(f"outbound call to {shown} refused: its origin is not "
                                  f"a configured partner nor in HUB_OUTBOUND_ALLOWLIST",
                                  partner=partner)
        return url


def under_prefix(url: str, prefixes: Iterable[str]) -> bool:
    """Whether ``url`` is an http(s) URL without user info or fragment that starts with one
    of ``prefixes`` at a path boundary (``https://a.example/hooks`` allows
    ``https://a.example/hooks/1`` but neither ``https://a.example/hooks-x`` nor
    ``https://a.example.evil/``). For URLs a client names (Subscription endpoints)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username \
            or parts.password or parts.fragment or any(c.isspace() for c in url):
        return False
    for prefix in prefixes:
        if not prefix or not url.startswith(prefix):
            continue
        rest = url[len(prefix):]
        if prefix.endswith("/") or rest == "" or rest[0] in "/?":
            return True
    return False


class PrefixPolicy:
    """URLs under configured prefixes only (``HUB_SUBSCRIPTION_ENDPOINTS``)."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.prefixes = tuple(prefixes)

    def allows(self, url: str) -> bool:
        return under_prefix(url, self.prefixes)

    def check(self, url: str, partner: str | None = None) -> str:
        if not self.allows(url):
            raise OutboundRefused("outbound call refused: the URL is not under a prefix of "
                                  "HUB_SUBSCRIPTION_ENDPOINTS", partner=partner)
        return url


class GuardedSession(requests.Session):
    """A requests Session that sends only to the policy's origins (redirects included:
    requests sends every hop through ``send``)."""

    def __init__(self, policy: OutboundPolicy | PrefixPolicy,
                 partner: str | None = None) -> None:
        super().__init__()
        self.policy, self.partner = policy, partner
        self.trust_env = False  # no proxy or netrc from the environment decides the target
        # one keep-alive pool per partner, large enough for every delivery thread of a
        # worker (requests keeps 10 by default and drops the connections beyond)
        for prefix in ("https://", "http://"):
            self.mount(prefix, HTTPAdapter(pool_connections=4, pool_maxsize=POOL_MAXSIZE))

    def send(self, request, **kwargs):
        self.policy.check(request.url, self.partner)
        return super().send(request, **kwargs)
