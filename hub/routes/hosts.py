"""The hub's root URL as a request sees it: ``HUB_BASE_URL``, else this request's scheme
and host (``request.host_url`` without its slash).

werkzeug works ``request.host_url`` out anew for every request (an IRI: the host's
percent-escapes and punycode decoded, ``werkzeug.urls.uri_to_iri``), and the FHIR API and
the audit log need it on every request (the FHIR base, the AuditEvent's source) when
``HUB_BASE_URL`` is not set. It depends on the scheme and the host only, so it is kept for
the last few of them (the Host header is the client's: a bounded cache).
"""

from __future__ import annotations

from functools import lru_cache

from werkzeug.sansio.utils import get_current_url

from hub.routes.current import this_app, this_request


@lru_cache(maxsize=64)
def _host_root(scheme: str, host: str) -> str:
    return get_current_url(scheme, host).rstrip("/")  # what ``request.host_url`` is


def server_root() -> str:
    """``HUB_BASE_URL`` without its slash, else ``http(s)://host[:port]`` of this request."""
    settings = this_app().extensions["hub.settings"]
    if settings.base_url:
        return settings.base_url.rstrip("/")
    req = this_request()
    return _host_root(req.scheme, req.host)
