"""The ``agency-json`` protocol client: home-health agencies without a FHIR server.

One instance per partner (a ``requests.Session`` each), built from the partner's
configuration by ``AgencyJsonClient.from_partner``: base URL, API-key header and the name
of the environment variable holding the key, timeouts. The format is documented in
``fixtures/partners/agency-json.md``; the documents are built and read by
``hub.mappings.agency_json``.

Every call has a timeout and sends the API key; failures become the PartnerError family
(``hub.adapters.errors``): 5xx/408/timeouts/refused connections ``PartnerUnavailable``,
429 ``PartnerThrottled`` (``retry_after`` from Retry-After, also on 503), other 4xx
``PartnerRejected``, 409 ``AgencyConflict`` (a ``PartnerConflict`` that is not retryable:
in this protocol a 409 means "same referral id, different content" or "already final",
which no retry can fix). The client does not retry: the outbox does.

Nothing of the patient is logged: log lines and error messages carry the method, the
path (referral ids are opaque hub ids) and the status only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from hub.adapters.errors import (
    PartnerConfigError,
    PartnerConflict,
    PartnerError,
    PartnerUnavailable,
    error_for_response,
)
from hub.adapters.smart_auth import ApiKeyAuth

log = logging.getLogger(__name__)

JSON = "application/json"
USER_AGENT = "fhir-case-hub (agency-json/1)"
DEFAULT_KEY_HEADER = "X-Api-Key"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class AgencyConflict(PartnerConflict):
    """409 from an agency-json partner: the referral id exists with other content, or the
    referral is already final. A human must look; retrying cannot succeed."""

    retryable = False  # overrides PartnerConflict's "409 is retryable" (FHIR concurrency)


@dataclass
class SendResult:
    """The answer to ``send_referral``: ``created`` (201) or already there (200)."""

    created: bool
    status: int
    state: dict[str, Any]
    location: str | None = None


@dataclass
class ChangePage:
    """One page of the change feed. Apply ``referrals``, then store ``cursor`` (the
    ``until`` watermark): the next ``changes_since(cursor)`` starts from there."""

    referrals: list[dict[str, Any]]
    cursor: str | None
    next: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)


class AgencyJsonClient:
    """A partner's agency-json API.

    :param partner: the partner id (in error messages and logs).
    :param base_url: e.g. ``https://api.sunrise-hh.example/hub/v1``.
    :param auth: an object with ``headers()`` (``ApiKeyAuth``); required in production.
    :param timeout: seconds, or a (connect, read) pair; applied to every call.
    :param page_limit: ``limit`` asked per change-feed page.
    :param max_pages: bound on the pages followed in one ``changes_since``.
    """

    def __init__(self, partner: str, base_url: str, *, auth=None,
                 timeout: float | tuple[float, float] = (5.0, 30.0),
                 session: requests.Session | None = None, page_limit: int = 100,
                 max_pages: int = 1000) -> None:
        self.partner = partner
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        self.page_limit = page_limit
        self.max_pages = max_pages
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": JSON, "User-Agent": USER_AGENT})

    @classmethod
    def from_partner(cls, partner, environ: Mapping[str, str] | None = None,
                     **kwargs) -> AgencyJsonClient:
        """The client of a configured partner (``hub.sync.partners.Partner``, duck-typed:
        ``id``, ``base_url``, ``auth.type/header/key_env``, ``timeouts.connect/read``).
        The API key is read from the environment variable the configuration names."""
        env = os.environ if environ is None else environ
        auth_conf = partner.auth
        if auth_conf.type != "api-key":
            raise PartnerConfigError(f"partner {partner.id}: agency-json needs auth type "
                                     f"api-key, not {auth_conf.type}", partner=partner.id)
        key = env.get(auth_conf.key_env or "")
        if not key:
            raise PartnerConfigError(f"partner {partner.id}: environment variable "
                                     f"{auth_conf.key_env} (its API key) is not set",
                                     partner=partner.id)
        auth = ApiKeyAuth(auth_conf.header or DEFAULT_KEY_HEADER, key)
        timeouts = partner.timeouts
        return cls(partner.id, partner.base_url, auth=auth,
                   timeout=(timeouts.connect, timeouts.read), **kwargs)

    # -- the four interactions --------------------------------------------------------------

    def send_referral(self, body: dict[str, Any]) -> SendResult:
        """POST {base}/referrals, idempotent by the referral id (body ``id`` and the
        Idempotency-Key header): 201 created, 200 already there with the same content,
        409 (AgencyConflict) there with other content."""
        referral_id = body.get("id")
        if not referral_id:
            raise PartnerError(f"{self.partner}: a referral document needs its id",
                               partner=self.partner)
        resp = self._request("POST", "/referrals", json=body,
                             headers={IDEMPOTENCY_HEADER: str(referral_id)})
        state = self._json(resp, "POST", "/referrals")
        if resp.status_code not in (200, 201):
            raise PartnerError(f"{self.partner}: POST /referrals answered {resp.status_code}, "
                               f"expected 201 or 200", partner=self.partner, response=resp)
        return SendResult(created=resp.status_code == 201, status=resp.status_code,
                          state=state, location=resp.headers.get("Location"))

    def get_referral(self, referral_id: str) -> dict[str, Any]:
        """GET {base}/referrals/{id}: the referral state (status, history, visits)."""
        path = f"/referrals/{quote(referral_id, safe='')}"
        return self._json(self._request("GET", path), "GET", path)

    def cancel_referral(self, referral_id: str, reason: str,
                        cancelled_at: str | None = None) -> dict[str, Any]:
        """POST {base}/referrals/{id}/cancel with the reason; idempotent (cancelling a
        cancelled referral answers 200). A final referral answers 409 (AgencyConflict)."""
        if not (reason or "").strip():
            raise ValueError("cancelling a referral needs a reason")
        body = {"reason": reason}
        if cancelled_at is not None:
            body["cancelled_at"] = cancelled_at
        path = f"/referrals/{quote(referral_id, safe='')}/cancel"
        return self._json(self._request("POST", path, json=body), "POST", path)

    def changes_since(self, since: str | None) -> Iterator[ChangePage]:
        """The change feed from ``since`` (the stored cursor; None pulls everything), page by
        page, following the ``next`` cursors. Store each page's ``cursor`` after applying
        it; ``updated_since`` is inclusive, so the last referral may come again (applying
        is idempotent)."""
        params: dict[str, Any] = {"limit": self.page_limit}
        if since is not None:
            params["updated_since"] = since
        seen: set[str] = set()
        for _ in range(self.max_pages):
            resp = self._request("GET", "/referrals", params=params)
            page = self._json(resp, "GET", "/referrals")
            referrals = page.get("referrals")
            if not isinstance(referrals, list):
                raise PartnerError(f"{self.partner}: change feed page without a referrals "
                                   f"list", partner=self.partner, response=resp)
            next_cursor = page.get("next")
            if next_cursor is not None and not isinstance(next_cursor, str):
                raise PartnerError(f"{self.partner}: change feed next is not a string",
                                   partner=self.partner, response=resp)
            cursor = page.get("until") or since
            yield ChangePage(referrals=referrals, cursor=cursor, next=next_cursor,
                             headers=dict(resp.headers))
            if not next_cursor:
                return
            if next_cursor in seen:
                raise PartnerError(f"{self.partner}: change feed repeats a cursor",
                                   partner=self.partner, response=resp)
            seen.add(next_cursor)
            params = {"cursor": next_cursor, "limit": self.page_limit}
        raise PartnerError(f"{self.partner}: more than {self.max_pages} change feed pages",
                           partner=self.partner)

    def close(self) -> None:
        self.session.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _json(self, resp: requests.Response, method: str, path: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError as exc:
            raise PartnerError(f"{self.partner}: {method} {path} answered non-JSON",
                               partner=self.partner, response=resp) from exc
        if not isinstance(body, dict):
            raise PartnerError(f"{self.partner}: {method} {path} answered no JSON object",
                               partner=self.partner, response=resp)
        return body

    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                 json: dict[str, Any] | None = None,
                 headers: dict[str, Any] | None = None) -> requests.Response:
        """The single place that adds auth and timeout and translates failures."""
        url = self.base_url + path
        sent = dict(headers or {})
        if json is not None:
            sent["Content-Type"] = JSON
        if self.auth is not None:
            sent.update(self.auth.headers())
        started = time.monotonic()
        try:
            resp = self.session.request(method, url, params=params, json=json, headers=sent,
                                        timeout=self.timeout)
        except requests.Timeout as exc:
            log.info("agency-json %s %s %s: timed out", self.partner, method, path)
            raise PartnerUnavailable(f"{self.partner}: {method} {path} timed out",
                                     partner=self.partner) from exc
        except requests.ConnectionError as exc:
            log.info("agency-json %s %s %s: connection failed", self.partner, method, path)
            raise PartnerUnavailable(f"{self.partner}: {method} {path} failed: "
                                     f"{type(exc).__name__}", partner=self.partner) from exc
        log.debug("agency-json %s %s %s -> %s in %.3fs", self.partner, method, path,
                  resp.status_code, time.monotonic() - started)
        if resp.ok:
            return resp
        error = error_for_response(resp, partner=self.partner)
        problem = _problem(resp)
        if resp.status_code == 409:
            error = AgencyConflict(error.message, partner=self.partner, response=resp)
        if problem.get("code"):
            error.message = f"{error.message} ({problem['code']})"
            error.args = (error.message,)
        error.problem = problem  # the agency's problem+json (may hold field paths)
        raise error


def _problem(resp: requests.Response) -> dict[str, Any]:
    """The problem+json body of an error answer, or {} (the code is safe to log, the detail
    is not logged: an agency might echo patient data in it)."""
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


__all__ = ["AgencyConflict", "AgencyJsonClient", "ChangePage", "SendResult"]
