"""``POST /auth/token`` (OAuth2 client credentials) and SMART discovery.

Clients authenticate with a secret (``client_secret_basic`` or ``client_secret_post``) or,
per SMART Backend Services, with a signed JWT (``private_key_jwt``, RS384/ES384, keys from
the JWKS registered with the client). Answers follow RFC 6749 section 5.1 and 5.2.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import jwt
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from hub.routes.current import this_request
from hub.routes.guards import issue_access_token
from hub.security import ASSERTION_ALGS, MAX_TOKEN_LIFETIME, assertion_key, grant_scopes
from hub.signing_keys import load_keyring
from hub.store.client_repo import Client, check_unknown_secret, client_is_active
from hub.store.db import Database, sqlite_file
from hub.store.uow import UnitOfWork

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/auth/token"
SCOPES_SUPPORTED = ["system/*.read", "system/*.write", "system/*.cruds", "system/*.rs",
                    "system/*.cud", "system/Case.cruds"]
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="hub"'}


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error answer."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description
        self.status = 401 if error == "invalid_client" else 400

    def response(self):
        resp = jsonify(error=self.error, error_description=self.description)
        resp.status_code = self.status
        resp.headers.update(_NO_STORE)
        if self.status == 401:
            resp.headers.update(_CHALLENGE)
        return resp


def _settings():
    return current_app.extensions["hub.settings"]


def token_url() -> str:
    """The token endpoint's absolute URL: the required ``aud`` of client assertions."""
    return _settings().public_base_url + TOKEN_PATH


def _form() -> dict[str, str]:
    """The form parameters; each may appear once (RFC 6749 section 3.2)."""
    if request.mimetype != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request",
                         "the body must be application/x-www-form-urlencoded")
    params = {}
    for key in request.form:
        values = request.form.getlist(key)
        if len(values) > 1:
            raise OAuthError("invalid_request", f"parameter '{key}' is repeated")
        params[key] = values[0]
    return params


def _basic_credentials() -> tuple[str, str] | None:
    """(client_id, secret) of an ``Authorization: Basic`` header (RFC 6749 section 2.3.1)."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "only Basic client authentication is accepted "
                                           "in the Authorization header")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise OAuthError("invalid_client", "malformed Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def _secret_client(client_id: str, secret: str) -> Client:
    """The client proven by ``secret``, or invalid_client."""
    with UnitOfWork(current_app.extensions["hub.db"]) as uow:
        client = uow.clients.get(client_id)
    ok = client.check_secret(secret) if client else check_unknown_secret(secret)
    if not ok:
        raise OAuthError("invalid_client", "client authentication failed")
    if not client.active:
        raise OAuthError("invalid_client", "the client is revoked")
    return client


def _unverified_assertion(assertion: str) -> tuple[dict, dict]:
    """Header and claims of a client assertion, before any check of its signature."""
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid_client", "client_assertion is not a valid JWT") from None
    alg = header.get("alg")
    if alg not in ASSERTION_ALGS:
        raise OAuthError("invalid_client", f"client_assertion alg must be one of "
                                           f"{', '.join(ASSERTION_ALGS)}")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise OAuthError("invalid_client", "client_assertion needs a 'kid' header")
    if "jku" in header:
        raise OAuthError("invalid_client", "'jku' is not allowed: keys are registered")
    if str(header.get("typ", "JWT")).upper() != "JWT":
        raise OAuthError("invalid_client", "client_assertion typ must be JWT")
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        raise OAuthError("invalid_client", "client_assertion needs an 'iss' claim")
    return header, claims


def _verify_assertion(client: Client, assertion: str, header: dict) -> dict:
    """The claims of ``assertion`` once its key, signature, iss/sub, aud and exp check out."""
    try:
        key = assertion_key(client.jwks or {}, header["kid"], header["alg"])
    except LookupError as exc:
        raise OAuthError("invalid_client", str(exc)) from None
    try:
        claims = jwt.decode(
            assertion, key, algorithms=[header["alg"]], audience=token_url(),
            issuer=client.client_id, subject=client.client_id,
            options={"require": ["iss", "sub", "aud", "exp", "jti"],
                     "enforce_minimum_key_length": True})
    except jwt.ExpiredSignatureError:
        raise OAuthError("invalid_client", "client_assertion has expired") from None
    except jwt.InvalidAudienceError:
        raise OAuthError("invalid_client",
                         f"client_assertion aud must be {token_url()}") from None
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_client", f"client_assertion rejected: {exc}") from None
    max_ahead = _settings().client_assertion_max_seconds
    if int(claims["exp"]) - int(time.time()) > max_ahead:
        raise OAuthError("invalid_client",
                         f"client_assertion exp is more than {max_ahead} seconds ahead")
    if not isinstance(claims["jti"], str) or not 0 < len(claims["jti"]) <= 255:
        raise OAuthError("invalid_client", "client_assertion jti must be 1-255 characters")
    return claims


def _assertion_client(params: dict[str, str]) -> Client:
    """The client proven by a SMART Backend Services ``client_assertion``."""
    assertion_type, assertion = params.get("client_assertion_type"), params.get(
        "client_assertion")
    if not assertion_type or not assertion:
        raise OAuthError("invalid_request",
                         "client_assertion and client_assertion_type go together")
    if assertion_type != ASSERTION_TYPE:
        raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    header, unverified = _unverified_assertion(assertion)
    if params.get("client_id", unverified["iss"]) != unverified["iss"]:
        raise OAuthError("invalid_client", "client_id does not match the assertion's iss")
    with UnitOfWork(current_app.extensions["hub.db"]) as uow:
        client = uow.clients.get(unverified["iss"])
        if client is None or client.jwks is None:
            raise OAuthError("invalid_client", "client authentication failed")
        if not client.active:
            raise OAuthError("invalid_client", "the client is revoked")
        claims = _verify_assertion(client, assertion, header)
        if not uow.clients.use_jti(client.client_id, claims["jti"], int(claims["exp"]),
                                   int(time.time())):
            raise OAuthError("invalid_client", "client_assertion jti was already used")
        uow.commit()
    return client


def _authenticate_client(params: dict[str, str]) -> Client:
    """Exactly one client authentication method (RFC 6749 section 2.3)."""
    basic = _basic_credentials()
    has_assertion = "client_assertion" in params or "client_assertion_type" in params
    has_post_secret = "client_secret" in params
    if (basic is not None) + has_assertion + has_post_secret > 1:
        raise OAuthError("invalid_request", "use exactly one client authentication method")
    if basic is not None:
        if params.get("client_id", basic[0]) != basic[0]:
            raise OAuthError("invalid_request", "client_id does not match the credentials")
        return _secret_client(*basic)
    if has_post_secret:
        if not params.get("client_id"):
            raise OAuthError("invalid_request", "client_id is required with client_secret")
        return _secret_client(params["client_id"], params["client_secret"])
    if has_assertion:
        return _assertion_client(params)
    raise OAuthError("invalid_client", "client authentication is required")


def _granted_scope(client: Client, requested: str | None) -> str:
    """The requested scope narrowed to the client's; the client's own when none is asked."""
    requested = requested if requested and requested.strip() else client.scope
    try:
        granted = grant_scopes(requested, client.scope)
    except ValueError as exc:
        raise OAuthError("invalid_scope", str(exc)) from None
    if not granted:
        raise OAuthError("invalid_scope", "none of the requested scopes is allowed "
                                          "for this client")
    return granted


@bp.post(TOKEN_PATH)
def token():
    """Issue an access token to an authenticated client (client credentials grant)."""
    try:
        params = _form()
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type",
                             "only the client_credentials grant is supported")
        client = _authenticate_client(params)
        scope = _granted_scope(client, params.get("scope"))
    except OAuthError as err:
        log.info("token request refused for client %s: %s (%s)", _claimed_client_id(),
                 err.error, err.description)
        return err.response()
    lifetime = min(_settings().token_lifetime_seconds, MAX_TOKEN_LIFETIME)
    access_token, expires_in = issue_access_token(client.client_id, scope,
                                                  client.organization, lifetime)
    log.info("token issued to client %s", client.client_id)
    resp = jsonify(access_token=access_token, token_type="bearer", expires_in=expires_in,
                   scope=scope)
    resp.headers.update(_NO_STORE)
    return resp


@bp.get("/fhir/.well-known/smart-configuration")
def smart_configuration():
    """SMART App Launch v2 discovery of the token endpoint and what it supports."""
    return jsonify({
        "token_endpoint": token_url(),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic",
                                                  "client_secret_post"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "scopes_supported": SCOPES_SUPPORTED,
        "capabilities": ["client-confidential-asymmetric", "client-confidential-symmetric"],
    })


def _client_active(db: Database, client_id: str) -> bool:
    return client_is_active(db.engine, client_id)


def _claimed_client_id() -> str:
    """The client id a token request claims, for the log: quoted and cut to 64
    characters; never the secret."""
    claimed = claimed_client_id()
    return repr(str(claimed)[:64]) if claimed else "(none)"


def claimed_client_id() -> str | None:
    """The client id a token request claims (Basic user, client_id, or the assertion's
    iss), unchecked; never the secret."""
    claimed = None
    try:
        basic = _basic_credentials()
        claimed = basic[0] if basic else None
    except OAuthError:
        pass
    claimed = claimed or request.form.get("client_id")
    if not claimed and request.form.get("client_assertion"):
        try:
            claimed = jwt.decode(request.form["client_assertion"],
                                 options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError:
            claimed = None
    return str(claimed) if claimed else None


def _client_key() -> str:
    """The rate-limit key of a token request: the client id it claims."""
    return "client:" + _claimed_client_id()


def _failed(response) -> bool:
    return response.status_code in (400, 401)


def _not_token_request() -> bool:
    return request.path != TOKEN_PATH


@bp.get("/.well-known/jwks.json")
def jwks():
    """The public keys of the hub's access tokens (ES256/RS256; HS256 keys never)."""
    resp = jsonify(current_app.extensions["hub.signing_keys"].public_jwks())
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


#: ``app.extensions`` key: the names of the blueprints the app's limiter has limits on
#: (``limit_blueprint``); a request of any other blueprint skips the limiter.
LIMITED_BLUEPRINTS = "hub.limited_blueprints"


def limit_blueprint(app: Flask, name: str) -> Limiter:
    """The app's limiter, to put limits on the blueprint ``name``."""
    app.extensions[LIMITED_BLUEPRINTS].add(name)
    return app.extensions["hub.token_limiter"]


def _hooks_only_for(app: Flask, limiter: Limiter, limited: set[str]) -> None:
    """The limiter's request hooks run for requests of the ``limited`` blueprints only.

    Its request filter already answers that no limit applies elsewhere, but its hooks still
    ran on every request of the app (resolving exemptions and meta limits, looking for
    headers to add, resetting its context: 6% of a FHIR read's instructions). Each is
    replaced in place (the order of the app's hooks is kept) by one that skips other
    requests; a Flask-Limiter that registers other hooks fails here, at start-up."""
    inject = getattr(Limiter, "_Limiter__inject_headers")  # noqa: B009 (name-mangled)
    release = getattr(limiter, "_Limiter__release_context")  # noqa: B009

    def check() -> None:
        if this_request().blueprint in limited:
            limiter._check_request_limit()

    def headers(response: Response) -> Response:
        return inject(limiter, response) if this_request().blueprint in limited else response

    def reset(exc: BaseException | None = None) -> None:
        if this_request().blueprint in limited:
            release(exc)

    _replace(app.before_request_funcs, lambda f: f == limiter._check_request_limit, check)
    _replace(app.after_request_funcs, lambda f: isinstance(f, functools.partial)
             and f.func is inject and f.args == (limiter,), headers)
    _replace(app.teardown_request_funcs, lambda f: f == release, reset)


def _replace(registry: dict[Any, list[Any]], is_hook: Callable[[Any], bool],
             hook: Callable[..., Any]) -> None:
    """The one app-wide hook of ``registry`` that ``is_hook`` replaced by ``hook``."""
    funcs = registry.get(None, [])
    found = [n for n, f in enumerate(funcs) if is_hook(f)]
    if len(found) != 1:
        raise RuntimeError("Flask-Limiter's request hooks are not the ones expected")
    funcs[found[0]] = hook


def _limit_token_failures(app: Flask) -> Limiter:
    """Failed token requests per claimed client id and per source address: past the
    limit every request of that client or address is 429 with Retry-After until the
    window ends. Only failures count (``deduct_when``); successes are never limited.

    The limiter looks at requests of the blueprints with limits only (``limit_blueprint``):
    resolving that none of its limits applies cost every API request ~8% of its CPU."""
    settings = app.extensions["hub.settings"]
    limiter = Limiter(get_remote_address, app=app, storage_uri=settings.ratelimit_storage_url,
                      key_prefix=settings.ratelimit_key_prefix, headers_enabled=True,
                      retry_after="delta-seconds", strategy="moving-window")
    limited = app.extensions[LIMITED_BLUEPRINTS] = {bp.name}
    limiter.request_filter(lambda: request.blueprint not in limited)
    _hooks_only_for(app, limiter, limited)
    limiter.limit(settings.token_failures_per_client, key_func=_client_key,
                  deduct_when=_failed, exempt_when=_not_token_request,
                  scope="token-client")(bp)
    limiter.limit(settings.token_failures_per_address,
                  key_func=lambda: "address:" + (get_remote_address() or "?"),
                  deduct_when=_failed, exempt_when=_not_token_request,
                  scope="token-address")(bp)
    return limiter


def init_app(app: Flask) -> None:
    """Check clients on every request; load the token keys; limit failed token requests."""
    db = app.extensions["hub.db"]
    settings = app.extensions["hub.settings"]
    app.extensions["hub.client_active"] = functools.partial(_client_active, db)
    app.extensions["hub.signing_keys"] = load_keyring(
        signing_key_file=settings.signing_key_file, signing_keys=settings.signing_keys,
        secret_key=settings.secret_key, sqlite=db.is_sqlite,
        sqlite_path=sqlite_file(settings.database_url))
    app.extensions["hub.token_limiter"] = _limit_token_failures(app)
