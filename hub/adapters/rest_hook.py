"""The rest-hook channel of Subscriptions: one HTTP request to a subscriber's endpoint.

Only endpoints under the prefixes of ``HUB_SUBSCRIPTION_ENDPOINTS`` are called (checked
again here, on every request; redirects are not followed). The subscriber's
``channel.header`` values go with the request and nowhere else: no error message, log
line or ledger row carries them, nor the endpoint's query string.
"""

from __future__ import annotations

import json

import requests

from hub.adapters.errors import PartnerUnavailable, error_for_response
from hub.adapters.outbound import GuardedSession, PrefixPolicy

FHIR_JSON = "application/fhir+json"
PARTNER = "subscriptions"


class RestHookClient:
    """Sends notifications; ``timeout`` (connect, read) seconds unless a call names one."""

    def __init__(self, prefixes: tuple[str, ...], timeout: tuple[float, float] = (5.0, 10.0)
                 ) -> None:
        self.session = GuardedSession(PrefixPolicy(prefixes), PARTNER)
        self.timeout = timeout

    def send(self, method: str, url: str, body: dict | None, headers: list[str], *,
             mime: str = FHIR_JSON, timeout: float | None = None) -> int:
        """The subscriber's HTTP status (2xx), or the PartnerError of the failure."""
        sent = {name.strip(): value.strip() for name, _, value in
                (h.partition(":") for h in headers)}
        data = b""
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            sent["Content-Type"] = f"{mime}; charset=utf-8" if "charset" not in mime else mime
        try:
            resp = self.session.request(method, url, data=data, headers=sent,
                                        allow_redirects=False,
                                        timeout=(self.timeout[0], timeout or self.timeout[1]))
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise PartnerUnavailable(f"subscriber endpoint unreachable "
                                     f"({type(exc).__name__})", partner=PARTNER) from None
        if 200 <= resp.status_code < 300:
            return resp.status_code
        error = error_for_response(resp, partner=PARTNER)
        error.message = f"subscriber answered {resp.status_code} to {method}"
        error.args = (error.message,)
        raise error

    def close(self) -> None:
        self.session.close()
