"""Authentication AuditEvents (``hub.audit.authn``) of every way in: token requests
(``/auth/token``: issued, or refused 400/401/429), requests whose bearer token is refused
(401 anywhere: ``/fhir``, ``/api``, ``/admin``, ``/notifications``, ``/metrics``), console
sign-ins (signed in, or refused 401/429) and sign-outs. One after-request hook of the app
looks at the answer; the agent is the client id or user name the request claimed (a
refused token's ``sub``, read without trusting it), never a secret or a token.

Flooding: a refused attempt is recorded one by one only within budgets per source address
and in all (``HUB_AUDIT_AUTH_FAILURES_PER_ADDRESS``, ``HUB_AUDIT_AUTH_FAILURES_TOTAL``, rate
strings counted in the storage of the app's limiter: memory, or the Redis all processes
share). Past a budget a failure is counted instead (in the same storage), logged once per
burst, and the next failure recorded from that address says how many were not. Successful
sign-ins, token issues and sign-outs are always recorded: they need valid credentials.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import jwt
from flask import Flask, Response, current_app, g, request, session
from limits import RateLimitItem, parse
from limits.strategies import RateLimiter

from hub.audit import authn
from hub.audit import log as audit_log
from hub.audit.group import group_commit
from hub.clock import utcnow
from hub.observability.safe_errors import safe_trace
from hub.routes.auth import TOKEN_PATH, claimed_client_id
from hub.routes.current import this_request
from hub.routes.hosts import server_root

log = logging.getLogger(__name__)

_REFUSED_SIGN_IN = (401, 429)
_REFUSED_TOKEN = (400, 401, 429)
#: how long a count of unrecorded failures is kept without a new failure
_UNRECORDED_SECONDS = 24 * 3600


@dataclass
class FailureBudget:
    """The budgets of refused attempts recorded one by one (see the module docstring)."""

    strategy: RateLimiter
    per_address: RateLimitItem
    total: RateLimitItem
    prefix: str

    def admit(self, address: str) -> int | None:
        """None: over a budget (counted, not to be recorded); else how many failures from
        ``address`` were not recorded since the last one that was (the count restarts)."""
        within = self.strategy.hit(self.per_address, self.prefix, "authn", address) and \
            self.strategy.hit(self.total, self.prefix, "authn", "all")
        key = f"{self.prefix}/authn-unrecorded/{address}"
        storage = self.strategy.storage
        if not within:
            if storage.incr(key, _UNRECORDED_SECONDS) == 1:
                log.warning("authentication failures from %s are over the audit budget: "
                            "counted, not recorded one by one", address)
            return None
        unrecorded = int(storage.get(key) or 0)
        if unrecorded:
            storage.clear(key)
        return unrecorded


def _bearer_claim() -> str | None:
    """The client id (``sub``) a refused bearer token names, read without trusting it."""
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return authn.claimed(claims.get("sub") if isinstance(claims, dict) else None)


def _attempt(response: Response) -> authn.Attempt | None:
    """The authentication this answer ends, if it ends one."""
    status = response.status_code
    req = this_request()
    endpoint, method = req.endpoint, req.method
    kind, claim, logout = "client", None, False
    if req.path == TOKEN_PATH and method == "POST":
        if status != 200 and status not in _REFUSED_TOKEN:
            return None
        claim = authn.claimed(claimed_client_id())
    elif endpoint == "console.sign_in" and method == "POST":
        kind = "user"
        if status in _REFUSED_SIGN_IN:
            claim = authn.claimed(request.form.get("name"))
        elif status in (302, 303) and session.get("user"):
            claim = authn.claimed(session["user"])
        else:
            return None  # a form error (CSRF): no attempt was made
    elif endpoint == "console.sign_out" and method == "POST":
        user = g.get("user")
        if user is None:
            return None
        kind, claim, logout = "user", authn.claimed(user.name), True
    elif status == 401:
        claim = _bearer_claim()
    else:
        return None
    return authn.Attempt(kind=kind, claim=claim, address=request.remote_addr, server=server_root(),
                         refused=status >= 400, status=status, logout=logout)


def _record(response: Response) -> Response:
    try:
        attempt = _attempt(response)
        if attempt is None:
            return response
        if attempt.refused:
            budget: FailureBudget = current_app.extensions["hub.authn_budget"]
            unrecorded = budget.admit(attempt.address or "-")
            if unrecorded is None:
                return response
            attempt = replace(attempt, unrecorded_before=unrecorded)
        recorded = utcnow().replace(tzinfo=None)  # stored as naive UTC
        event = authn.build(attempt, recorded)
        user = attempt.claim if attempt.kind == "user" else None
        client = attempt.claim if attempt.kind == "client" else None
        row = audit_log.row(event, recorded, client or "", None, [], [], user=user)
        group_commit(current_app.extensions["hub.db"]).record(row)
    except Exception as exc:  # the answer stands; the failure is logged safely
        log.error("could not record an authentication AuditEvent: %s", safe_trace(exc))
    return response


def init_app(app: Flask) -> None:
    """Record authentication attempts; the budgets count in the app's limiter storage
    (``hub.routes.auth`` makes the limiter first)."""
    settings = app.extensions["hub.settings"]
    app.extensions["hub.authn_budget"] = FailureBudget(
        strategy=app.extensions["hub.token_limiter"].limiter,
        per_address=parse(settings.audit_auth_failures_per_address),
        total=parse(settings.audit_auth_failures_total),
        prefix=settings.ratelimit_key_prefix)
    app.after_request(_record)
