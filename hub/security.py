"""Access tokens, SMART scopes and the ``require_scope`` guard of every protected route.

Scopes come in SMART v1 form (``system/Task.read``, ``system/*.write``) and v2 form
(``system/Task.rs``, ``system/*.cruds``). Both are reduced to the set of interactions they
grant: c(reate), r(ead), u(pdate), d(elete), s(earch).
"""

from __future__ import annotations

import functools
import re
import secrets
import time
from dataclasses import dataclass, field

import jwt
from flask import current_app, g, request

from hub.errors import Forbidden, Unauthorized

ACCESS_TOKEN_ALG = "HS256"
_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}
_SCOPE_RE = re.compile(r"^(system|user|patient)/([A-Za-z]+|\*)\.([a-z*]+)$")


@dataclass(frozen=True)
class Scope:
    context: str
    resource: str  # a resource type, "Case", or "*"
    perms: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> "Scope":
        m = _SCOPE_RE.match(text.strip())
        if not m:
            raise ValueError(f"not a SMART scope: {text!r}")
        context, resource, perms = m.groups()
        if perms in _V1:
            granted = _V1[perms]
        elif perms and re.fullmatch(r"c?r?u?d?s?", perms):
            granted = frozenset(perms)
        else:
            raise ValueError(f"not a SMART scope: {text!r}")
        return cls(context, resource, granted)

    def allows(self, resource: str, perm: str) -> bool:
        return self.context == "system" and self.resource in ("*", resource) \
            and perm in self.perms


def parse_scopes(text: str) -> list[Scope]:
    """Parse a space-separated scope string; ValueError names the first bad scope."""
    return [Scope.parse(s) for s in text.split()]


@dataclass
class Principal:
    """Who is calling: the client, what it may do, and the organization it stands for."""

    client_id: str
    scope: str
    organization: str | None = None
    scopes: list[Scope] = field(default_factory=list)

    def allows(self, resource: str, perm: str) -> bool:
        return any(s.allows(resource, perm) for s in self.scopes)


def token_secret() -> str:
    return current_app.extensions["hub.token_secret"]


def issue_access_token(client_id: str, scope: str, organization: str | None = None,
                       lifetime: int | None = None) -> tuple[str, int]:
    """A signed access token for ``client_id``; returns (token, expires_in seconds)."""
    settings = current_app.extensions["hub.settings"]
    expires_in = lifetime or settings.token_lifetime_seconds
    now = int(time.time())
    claims = {
        "iss": settings.public_base_url,
        "sub": client_id,
        "scope": scope,
        "iat": now,
        "exp": now + expires_in,
        "jti": secrets.token_urlsafe(16),
    }
    if organization:
        claims["org"] = organization
    return jwt.encode(claims, token_secret(), algorithm=ACCESS_TOKEN_ALG), expires_in


def _client_is_active(client_id: str) -> bool:
    """Whether the client still exists and is not revoked (checked on every request)."""
    check = current_app.extensions.get("hub.client_active")
    return True if check is None else check(client_id)


def authenticate() -> Principal:
    """The Principal of the bearer token of this request, or Unauthorized."""
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer access token is required",
                           headers={"WWW-Authenticate": 'Bearer realm="hub"'})
    try:
        claims = jwt.decode(token.strip(), token_secret(), algorithms=[ACCESS_TOKEN_ALG],
                            options={"require": ["exp", "sub", "scope"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the access token has expired", headers={
            "WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    except jwt.PyJWTError:
        raise Unauthorized("the access token is not valid", headers={
            "WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    if not _client_is_active(claims["sub"]):
        raise Unauthorized("the client of this token is revoked", headers={
            "WWW-Authenticate": 'Bearer error="invalid_token"'})
    try:
        scopes = parse_scopes(claims["scope"])
    except ValueError:
        raise Unauthorized("the access token carries malformed scopes") from None
    return Principal(claims["sub"], claims["scope"], claims.get("org"), scopes)


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        principal = g.principal = authenticate()
    return principal


def check_scope(resource: str, perm: str) -> Principal:
    """Authenticate and require the interaction ``perm`` on ``resource``, or 401/403."""
    principal = current_principal()
    if not principal.allows(resource, perm):
        raise Forbidden(f"scope does not allow '{perm}' on {resource}", path=None)
    return principal


def require_scope(resource: str, perm: str):
    """Route decorator: the caller needs a token granting ``perm`` (c/r/u/d/s) on ``resource``."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            check_scope(resource, perm)
            return view(*args, **kwargs)

        return wrapped

    return decorator
