"""Outbound authentication: SMART Backend Services, client secret, API key, none.

Each auth object answers ``headers()`` (what to add to a partner request) and
``invalidate()`` (forget a cached token after the partner answered 401).
See http://hl7.org/fhir/smart-app-launch/backend-services.html for the token flow.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import jwt
import requests

from hub.adapters.errors import PartnerError, PartnerUnavailable, error_for_response

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 300  # SMART: exp at most five minutes ahead
EXPIRY_MARGIN = 30  # refresh a cached token this many seconds before it expires
DEFAULT_TOKEN_LIFETIME = 300  # when the server omits expires_in


class NoAuth:
    """No credentials at all (a partner on a private network, tests)."""

    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        """Nothing cached."""


class ApiKeyAuth:
    """A static key sent in a header of the partner's choosing (agency JSON APIs)."""

    def __init__(self, header: str, key: str) -> None:
        self.header, self._key = header, key

    def headers(self) -> dict[str, str]:
        return {self.header: self._key}

    def invalidate(self) -> None:
        """A static key cannot be refreshed."""


class _TokenAuth:
    """Client-credentials grant with a cached bearer token; subclasses add client auth."""

    def __init__(self, token_url: str, client_id: str, *, scope: str | None = None,
                 session: requests.Session | None = None, timeout: float | tuple = 10.0,
                 clock: Callable[[], float] = time.time, partner: str | None = None) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope
        self.session = session or requests.Session()
        self.timeout = timeout
        self.clock = clock
        self.partner = partner
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token()}"}

    def invalidate(self) -> None:
        with self._lock:
            self._token, self._expires_at = None, 0.0

    def access_token(self) -> str:
        """The cached token, or a new one when none is cached or it is about to expire."""
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - EXPIRY_MARGIN:
                self._token, lifetime = self._fetch()
                self._expires_at = self.clock() + lifetime
            return self._token

    def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        form.update(self._client_auth_form())
        try:
            resp = self.session.post(self.token_url, data=form, auth=self._client_auth_basic(),
                                     headers={"Accept": "application/json"},
                                     timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PartnerUnavailable(f"token endpoint {self.token_url} unreachable: {exc}",
                                     partner=self.partner) from exc
        if not resp.ok:
            raise error_for_response(resp, partner=self.partner)
        try:
            body = resp.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PartnerError(f"token endpoint {self.token_url} answered no access_token",
                               partner=self.partner, response=resp) from exc
        lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        return token, lifetime

    def _client_auth_form(self) -> dict[str, str]:
        return {}

    def _client_auth_basic(self):
        return None


class ClientSecretAuth(_TokenAuth):
    """OAuth2 client credentials with a shared secret (HTTP Basic, RFC 6749 §2.3.1)."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, **kwargs) -> None:
        super().__init__(token_url, client_id, **kwargs)
        self._secret = client_secret

    def _client_auth_basic(self):
        return (self.client_id, self._secret)


class SmartBackendAuth(_TokenAuth):
    """SMART Backend Services: private_key_jwt client assertion signed RS384 or ES384."""

    def __init__(self, token_url: str, client_id: str, private_key: str | bytes, *,
                 kid: str, alg: str = "RS384", jku: str | None = None, **kwargs) -> None:
        super().__init__(token_url, client_id, **kwargs)
        if alg not in ("RS384", "ES384"):
            raise ValueError(f"SMART Backend Services signs with RS384 or ES384, not {alg}")
        self._key = private_key
        self.kid, self.alg, self.jku = kid, alg, jku

    def client_assertion(self) -> str:
        """A fresh signed JWT: iss = sub = client_id, aud = token URL, exp <= 5 min, new jti."""
        now = int(self.clock())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
                  "iat": now, "exp": now + ASSERTION_LIFETIME, "jti": uuid.uuid4().hex}
        headers = {"kid": self.kid, "typ": "JWT"}
        if self.jku:
            headers["jku"] = self.jku
        return jwt.encode(claims, self._key, algorithm=self.alg, headers=headers)

    def _client_auth_form(self) -> dict[str, str]:
        return {"client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": self.client_assertion()}
