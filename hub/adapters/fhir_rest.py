"""FHIR R4 REST client: one configured instance per partner speaking plain FHIR REST.

Every call goes through ``_request``: auth headers, ``Accept: application/fhir+json``, a
timeout, and the translation of failures into the PartnerError family. The client does
not retry (the outbox does) except once after a 401, with a fresh token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from hub.adapters.errors import PartnerError, PartnerRejected, PartnerUnavailable, error_for_response
from hub.adapters.smart_auth import NoAuth

FHIR_JSON = "application/fhir+json"
USER_AGENT = "fhir-case-hub"
_LOCATION = re.compile(r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
                       r"(?:/_history/(?P<vid>[A-Za-z0-9\-.]{1,64}))?/?$")


@dataclass
class FhirResponse:
    """What a partner answered to a write or read: status, body, and version bookkeeping."""

    status: int
    resource: dict[str, Any] | None = None
    etag: str | None = None
    location: str | None = None
    last_modified: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)

    @property
    def version_id(self) -> str | None:
        """The version from ETag ``W/"3"``, else from Location ``/_history/3``, else meta."""
        if self.etag:
            return self.etag.removeprefix("W/").strip('"')
        match = _LOCATION.search(urlsplit(self.location).path) if self.location else None
        if match and match.group("vid"):
            return match.group("vid")
        return ((self.resource or {}).get("meta") or {}).get("versionId")

    @property
    def resource_id(self) -> str | None:
        """The partner's id of the resource, from Location or else from the body."""
        match = _LOCATION.search(urlsplit(self.location).path) if self.location else None
        if match:
            return match.group("id")
        return (self.resource or {}).get("id")


def _compact_dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def weak_etag(version_id: str) -> str:
    """``W/"{version}"``, the If-Match value for a version id."""
    return f'W/"{version_id}"'


class FhirRestClient:
    """A partner's FHIR R4 REST endpoint.

    :param partner: the partner id (in error messages and logs).
    :param base_url: the FHIR base, e.g. ``https://ehr.example.org/fhir``.
    :param auth: an object with ``headers()`` and ``invalidate()`` (see smart_auth).
    :param timeout: seconds, or a (connect, read) pair; applied to every call.
    :param dumps: JSON text of a body sent (the hub passes ``hub.fhirjson.codec.dumps``,
        which writes decimals as they were written: ``105.00`` leaves as ``105.00``).
    :param loads: a body received, from its bytes (``hub.fhirjson.codec.loads``).
    """

    def __init__(self, partner: str, base_url: str, *, auth=None,
                 timeout: float | tuple[float, float] = (5.0, 30.0),
                 session: requests.Session | None = None,
                 dumps: Callable[[Any], str] | None = None,
                 loads: Callable[[bytes], Any] | None = None) -> None:
        self.partner = partner
        self.dumps = dumps or _compact_dumps
        self.loads = loads or json.loads
        self.base_url = base_url.rstrip("/") + "/"
        self.auth = auth or NoAuth()
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": FHIR_JSON, "User-Agent": USER_AGENT})

    # -- interactions -------------------------------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        """GET [base]/metadata: the partner's CapabilityStatement."""
        return self._request("GET", "metadata", auth=False).resource or {}

    def get(self, path: str, params: dict[str, Any] | None = None) -> FhirResponse:
        """GET [base]/path (a health endpoint, an operation answered by GET)."""
        return self._request("GET", path.lstrip("/"), params=params)

    def read(self, resource_type: str, resource_id: str) -> FhirResponse:
        """GET [base]/Type/id."""
        return self._request("GET", f"{resource_type}/{resource_id}")

    def search(self, resource_type: str, params: dict[str, Any] | None = None, *,
               max_pages: int = 1000) -> Iterator[dict[str, Any]]:
        """Every matching resource (entries with search.mode ``match``), following ``next``."""
        for bundle in self.search_pages(resource_type, params, max_pages=max_pages):
            for entry in bundle.get("entry") or []:
                mode = (entry.get("search") or {}).get("mode", "match")
                if mode == "match" and entry.get("resource"):
                    yield entry["resource"]

    def search_pages(self, resource_type: str, params: dict[str, Any] | None = None, *,
                     max_pages: int = 1000) -> Iterator[dict[str, Any]]:
        """The searchset Bundles, page by page, following ``link[relation=next]``."""
        resp = self._request("GET", resource_type, params=params)
        seen = set()
        for _ in range(max_pages):
            bundle = resp.resource or {}
            yield bundle
            next_url = next((link.get("url") for link in bundle.get("link") or []
                             if link.get("relation") == "next"), None)
            if not next_url or next_url in seen:
                return
            seen.add(next_url)
            resp = self._request("GET", self._same_origin(next_url))
        raise PartnerError(f"{self.partner}: more than {max_pages} search pages",
                           partner=self.partner)

    def changes_since(self, resource_type: str, since: datetime | str | None,
                      params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Resources changed after ``since`` (``_lastUpdated=gt``), oldest first when the
        partner honours ``_sort``; ``since=None`` pulls everything."""
        query = dict(params or {})
        if since is not None:
            stamp = since.isoformat() if isinstance(since, datetime) else since
            query["_lastUpdated"] = f"gt{stamp}"
        query.setdefault("_sort", "_lastUpdated")
        return self.search(resource_type, query)

    def create(self, resource: dict[str, Any], *, if_none_exist: str | None = None) -> FhirResponse:
        """POST [base]/Type, conditional when ``if_none_exist`` (a search query) is given."""
        headers = {"If-None-Exist": if_none_exist} if if_none_exist else {}
        return self._request("POST", resource["resourceType"], json=resource,
                             headers=headers | {"Prefer": "return=representation"})

    def update(self, resource: dict[str, Any], *, if_match: str | None = None) -> FhirResponse:
        """PUT [base]/Type/id (update, or create with our id); ``if_match`` a version id or
        ETag, answered 412 by the partner when it holds another version."""
        headers = {"Prefer": "return=representation"}
        if if_match:
            headers["If-Match"] = if_match if if_match.startswith(("W/", '"')) \
                else weak_etag(if_match)
        return self._request("PUT", f"{resource['resourceType']}/{resource['id']}",
                             json=resource, headers=headers)

    def delete(self, resource_type: str, resource_id: str) -> FhirResponse:
        """DELETE [base]/Type/id; a resource already gone (404/410) counts as deleted."""
        try:
            return self._request("DELETE", f"{resource_type}/{resource_id}")
        except PartnerRejected as exc:
            if exc.status in (404, 410):
                return FhirResponse(status=exc.status)
            raise

    def operation(self, resource_type: str, name: str, body: dict[str, Any]) -> FhirResponse:
        """POST [base]/Type/$name with a resource (a Bundle for PAS ``Claim/$submit``)."""
        name = name if name.startswith("$") else f"${name}"
        return self._request("POST", f"{resource_type}/{name}", json=body)

    def submit(self, resource_type: str, body: dict[str, Any]) -> FhirResponse:
        """``Type/$submit`` (Claim, CoverageEligibilityRequest)."""
        return self.operation(resource_type, "$submit", body)

    def close(self) -> None:
        self.session.close()

    # -- plumbing -------------------------------------------------------------------------

    def _same_origin(self, url: str) -> str:
        """A paging link, refused when it leaves the partner (it would get our token)."""
        absolute = urljoin(self.base_url, url)
        ours, theirs = urlsplit(self.base_url), urlsplit(absolute)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            raise PartnerError(f"{self.partner}: paging link {absolute} leaves {ours.netloc}",
                               partner=self.partner)
        return absolute

    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                 json: dict[str, Any] | None = None, headers: dict[str, Any] | None = None,
                 auth: bool = True) -> FhirResponse:
        """The single place that adds headers and timeout and translates failures."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        extra = dict(headers or {})
        data = None
        if json is not None:
            extra["Content-Type"] = FHIR_JSON
            data = self.dumps(json).encode("utf-8")
        for attempt in (1, 2):
            sent = extra | (self.auth.headers() if auth else {})
            try:
                resp = self.session.request(method, url, params=params, data=data,
                                            headers=sent, timeout=self.timeout)
            except requests.Timeout as exc:
                raise PartnerUnavailable(f"{self.partner}: {method} {url} timed out",
                                         partner=self.partner) from exc
            except requests.ConnectionError as exc:
                raise PartnerUnavailable(f"{self.partner}: {method} {url} failed: {exc}",
                                         partner=self.partner) from exc
            if resp.status_code == 401 and auth and attempt == 1:
                self.auth.invalidate()  # an expired or revoked token: one fresh try
                continue
            break
        if not resp.ok:
            raise error_for_response(resp, partner=self.partner)
        body = None
        if resp.content:
            try:
                body = self.loads(resp.content)
            except ValueError as exc:
                raise PartnerError(f"{self.partner}: {method} {url} answered non-JSON",
                                   partner=self.partner, response=resp) from exc
        return FhirResponse(status=resp.status_code, resource=body,
                            etag=resp.headers.get("ETag"), location=resp.headers.get(
                                "Location") or resp.headers.get("Content-Location"),
                            last_modified=resp.headers.get("Last-Modified"),
                            headers=dict(resp.headers))
