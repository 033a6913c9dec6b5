"""The Flask request guards of every protected route: who is calling, and may they.

The rules (scopes, tokens, principals) are pure, in ``hub.security``; this module reads
them from the request and the app: the bearer token of ``Authorization``, the token
keys and settings in ``app.extensions``, the caller kept in ``flask.g`` per request.
"""

from __future__ import annotations

import functools

from flask import current_app

from hub.errors import Forbidden
from hub.routes.current import this_app, this_g, this_request
from hub.security import (
    MAX_TOKEN_LIFETIME,
    Principal,
    VerifiedTokens,
    bearer_token,
    encode_access_token,
    revoked_client,
)
from hub.signing_keys import KeyRing


def signing_keys() -> KeyRing:
    """The keys of the hub's access tokens (``hub.signing_keys``, loaded at start)."""
    return this_app().extensions["hub.signing_keys"]


def max_token_lifetime() -> int:
    """The longest lifetime (exp - iat) of a token this hub issues and accepts."""
    return min(this_app().extensions["hub.settings"].token_lifetime_seconds,
               MAX_TOKEN_LIFETIME)


def issue_access_token(client_id: str, scope: str, organization: str | None = None,
                       lifetime: int | None = None) -> tuple[str, int]:
    """A signed access token for ``client_id``; returns (token, expires_in seconds)."""
    settings = current_app.extensions["hub.settings"]
    expires_in = min(lifetime or settings.token_lifetime_seconds, max_token_lifetime())
    token = encode_access_token(signing_keys(), settings.public_base_url, client_id, scope,
                                organization, expires_in)
    return token, expires_in


def _client_is_active(client_id: str) -> bool:
    """Whether the client still exists and is not revoked (checked on every request)."""
    check = this_app().extensions.get("hub.client_active")
    return True if check is None else check(client_id)


def authenticate() -> Principal:
    """The Principal of the bearer token of this request, or Unauthorized."""
    token = bearer_token(this_request().headers.get("Authorization"))
    extensions = this_app().extensions
    settings = extensions["hub.settings"]
    verified = extensions.get("hub.verified_tokens")
    if verified is None:
        verified = extensions.setdefault("hub.verified_tokens", VerifiedTokens())
    principal = verified.principal(token, signing_keys(), settings.public_base_url,
                                   max_token_lifetime())
    if not _client_is_active(principal.client_id):
        raise revoked_client()
    return principal


def current_principal() -> Principal:
    """The caller of this request (authenticated once, then kept in ``flask.g``)."""
    flask_g = this_g()
    principal = flask_g.get("principal")
    if principal is None:
        principal = flask_g.principal = authenticate()
    return principal


def check_scope(resource: str, perm: str) -> Principal:
    """Authenticate and require the interaction ``perm`` on ``resource``, or 401/403."""
    principal = current_principal()
    principal.require(resource, perm)
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


def refuse_bound_clients() -> None:
    """Blueprint guard of the APIs that span every partner (``/api/cases``, ``/admin``):
    401 without a token, 403 for a client bound to a partner Organization."""
    if this_request().method == "OPTIONS":
        return
    if current_principal().organization:
        raise Forbidden("clients bound to a partner organization cannot use this API; "
                        "they use /fhir, where they see their compartment")
