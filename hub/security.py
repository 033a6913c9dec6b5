"""Principals, SMART scopes, client keys and access tokens: pure rules, no Flask.

Scopes come in SMART v1 form (``system/Task.read``, ``system/*.write``) and v2 form
(``system/Task.rs``, ``system/*.cruds``). Both are reduced to the set of interactions they
grant: c(reate), r(ead), u(pdate), d(elete), s(earch). ``grant_scopes`` narrows a token
request to what a client is allowed; ``validate_jwks``/``assertion_key`` hold the rules for
the public keys of SMART Backend Services clients (RS384, ES384); ``encode_access_token``
and ``principal_from_token`` make and check the hub's own access tokens. The Flask request
guards built on these (``require_scope``, ``current_principal``) are in ``hub.routes.guards``.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt

from hub.errors import Forbidden, Unauthorized

#: Longest access-token lifetime the hub issues (SMART: expires_in should be <= 300).
MAX_TOKEN_LIFETIME = 300
#: Client-assertion algorithms (SMART Backend Services) and the key each needs: (kty, crv).
ASSERTION_ALGS = {"RS384": ("RSA", None), "ES384": ("EC", "P-384")}
_PERM_ORDER = "cruds"
_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}
_SCOPE_RE = re.compile(r"^(system|user|patient)/([A-Za-z]+|\*)\.([a-z*]+)$")
#: Hub resources that no wildcard covers: the outbox (``/admin``, payloads of every
#: partner) needs ``system/Delivery.<perms>`` by name, never ``system/*.read``; so does
#: ``/metrics`` (``system/Metrics.read``: operators' numbers, every partner's).
EXPLICIT_ONLY = frozenset({"Delivery", "Metrics"})
#: What a client bound to a partner Organization may never hold: the case API and the
#: admin API span every partner's patients, and a wildcard would include them.
NOT_FOR_BOUND_CLIENTS = frozenset({"*", "Case"}) | EXPLICIT_ONLY


@dataclass(frozen=True)
class Scope:
    context: str
    resource: str  # a resource type, "Case", or "*"
    perms: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope:
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

    def covers(self, resource: str) -> bool:
        """Whether this scope names ``resource`` (a wildcard names every FHIR type and
        Case, never the EXPLICIT_ONLY hub resources)."""
        return self.resource == resource or (self.resource == "*"
                                             and resource not in EXPLICIT_ONLY)

    def allows(self, resource: str, perm: str) -> bool:
        return self.context == "system" and self.covers(resource) and perm in self.perms


def parse_scopes(text: str) -> list[Scope]:
    """Parse a space-separated scope string; ValueError names the first bad scope."""
    return [Scope.parse(s) for s in text.split()]


def format_scope(scope: Scope) -> str:
    """The SMART v2 text of ``scope`` (``system/Task.rs``)."""
    perms = "".join(p for p in _PERM_ORDER if p in scope.perms)
    return f"{scope.context}/{scope.resource}.{perms}"


def validate_client_scope(text: str) -> str:
    """The normalized allowed-scope string of a new client, or ValueError saying why not.

    Backend clients act for no user or patient, so only ``system/`` scopes are accepted.
    """
    scopes = parse_scopes(text or "")
    if not scopes:
        raise ValueError("at least one scope is required, e.g. 'system/*.read'")
    for raw, scope in zip(text.split(), scopes):
        if scope.context != "system":
            raise ValueError(f"only system/ scopes can be granted to a client: {raw!r}")
    return " ".join(dict.fromkeys(text.split()))


def validate_bound_client_scope(text: str) -> str:
    """The scope of a client bound to a partner Organization, or ValueError: no wildcard,
    no case scope, no delivery scope (they reach beyond the partner's compartment)."""
    text = validate_client_scope(text)
    for raw, scope in zip(text.split(), parse_scopes(text)):
        if scope.resource in NOT_FOR_BOUND_CLIENTS:
            raise ValueError(f"a client bound to an organization cannot hold {raw!r}: name "
                             f"the FHIR resource types it needs (e.g. system/Task.rs)")
    return text


def _grant_one(requested: Scope, allowed: list[Scope]) -> list[Scope]:
    """The parts of one requested scope that the allowed scopes cover, per resource."""
    pieces: dict[str, frozenset[str]] = {}
    for allow in allowed:
        if allow.context != requested.context or requested.context != "system":
            continue
        if allow.covers(requested.resource):
            resource = requested.resource
        elif requested.resource == "*":
            resource = allow.resource
        else:
            continue
        perms = requested.perms & allow.perms
        if perms:
            pieces[resource] = pieces.get(resource, frozenset()) | perms
    if pieces.get(requested.resource) == requested.perms:
        return [requested]
    wildcard = pieces.get("*", frozenset())
    return [Scope(requested.context, r, p) for r, p in pieces.items()
            if r == "*" or not p <= wildcard]


def grant_scopes(requested: str, allowed: str) -> str:
    """The scope string to grant: ``requested`` narrowed to what ``allowed`` permits.

    A requested scope that is fully allowed is granted as written (v1 or v2 form); one that
    is partly allowed is granted in v2 form for the part allowed (``system/*.cruds`` against
    an allowance of ``system/Task.rs`` grants ``system/Task.rs``). Returns "" when nothing is
    granted. ValueError when ``requested`` holds a malformed scope.
    """
    allowed_scopes = parse_scopes(allowed)
    granted: list[str] = []
    for text in requested.split():
        scope = Scope.parse(text)
        pieces = _grant_one(scope, allowed_scopes)
        if pieces == [scope]:
            granted.append(text)
        else:
            granted.extend(format_scope(p) for p in pieces)
    return " ".join(dict.fromkeys(granted))


def _check_jwk(key: dict) -> None:
    """ValueError unless ``key`` is a public RS384/ES384 signing key with ``kid``/``kty``."""
    if not isinstance(key, dict):
        raise ValueError("each entry of 'keys' must be a JSON object")
    kid, kty = key.get("kid"), key.get("kty")
    if not isinstance(kid, str) or not kid:
        raise ValueError("every key needs a 'kid'")
    if not isinstance(kty, str) or not kty:
        raise ValueError(f"key {kid!r} needs a 'kty'")
    if "d" in key or "k" in key:
        raise ValueError(f"key {kid!r} holds private key material; register public keys only")
    usable = [alg for alg, (want_kty, crv) in ASSERTION_ALGS.items()
              if kty == want_kty and key.get("crv") == crv and key.get("alg", alg) == alg]
    if not usable:
        raise ValueError(f"key {kid!r} is not an RSA or EC P-384 key usable with "
                         f"{' or '.join(ASSERTION_ALGS)}")
    if key.get("use", "sig") != "sig":
        raise ValueError(f"key {kid!r} is not a signing key (use={key['use']!r})")
    try:
        jwk = jwt.PyJWK(key, algorithm=usable[0])
    except jwt.PyJWTError as exc:
        raise ValueError(f"key {kid!r} is not a valid JWK: {exc}") from None
    if kty == "RSA" and jwk.key.key_size < 2048:
        raise ValueError(f"RSA key {kid!r} is shorter than 2048 bits")


def validate_jwks(jwks) -> dict:
    """The JWKS of a new private_key_jwt client (``{"keys": [...]}``), or ValueError."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) \
            or not jwks["keys"]:
        raise ValueError("a JWKS must be a JSON object with a non-empty 'keys' array")
    for key in jwks["keys"]:
        _check_jwk(key)
    kids = [k["kid"] for k in jwks["keys"]]
    if len(set(kids)) != len(kids):
        raise ValueError("the 'kid' of each key must be unique")
    return {"keys": jwks["keys"]}


def assertion_key(jwks: dict, kid: str, alg: str) -> jwt.PyJWK:
    """The registered key ``kid`` bound to ``alg`` (RS384/ES384), or LookupError."""
    if alg not in ASSERTION_ALGS:
        raise LookupError(f"algorithm {alg!r} is not accepted")
    want_kty, want_crv = ASSERTION_ALGS[alg]
    for data in jwks.get("keys", []):
        if not isinstance(data, dict) or data.get("kid") != kid:
            continue
        if data.get("kty") != want_kty or data.get("crv") != want_crv \
                or data.get("alg", alg) != alg or data.get("use", "sig") != "sig":
            raise LookupError(f"key {kid!r} does not fit algorithm {alg}")
        try:
            return jwt.PyJWK(data, algorithm=alg)
        except jwt.PyJWTError:
            raise LookupError(f"key {kid!r} is not usable") from None
    raise LookupError(f"no registered key with kid {kid!r}")


@dataclass
class Principal:
    """Who is calling: the client, what it may do, and the organization it stands for."""

    client_id: str
    scope: str
    organization: str | None = None
    scopes: list[Scope] = field(default_factory=list)

    def allows(self, resource: str, perm: str) -> bool:
        return any(s.allows(resource, perm) for s in self.scopes)

    def require(self, resource: str, perm: str) -> None:
        """Forbidden (403) unless a scope grants the interaction ``perm`` on ``resource``."""
        if not self.allows(resource, perm):
            raise Forbidden(f"scope does not allow '{perm}' on {resource}", path=None)


class TokenKeys(Protocol):
    """The hub's signing keys (``hub.signing_keys.KeyRing``): the newest signs, ``kid``
    picks the one that verifies."""

    def sign(self, claims: dict) -> str: ...

    def for_token(self, header: dict) -> Any: ...  # .verify_key, .alg; None if unknown


def _verification(keys: TokenKeys | str, header: dict) -> tuple[Any, str] | None:
    """(key, algorithm) that must verify a token with this header; a plain string is one
    HS256 secret."""
    if isinstance(keys, str):
        return keys, "HS256"
    key = keys.for_token(header)
    return (key.verify_key, key.alg) if key is not None else None


def encode_access_token(keys: TokenKeys | str, issuer: str, client_id: str, scope: str,
                        organization: str | None, lifetime: int,
                        now: int | None = None) -> str:
    """An access token for ``client_id`` valid ``lifetime`` seconds, signed by the newest
    key of ``keys`` (its ``kid`` in the header)."""
    issued = int(time.time()) if now is None else now
    claims = {
        "iss": issuer,
        "sub": client_id,
        "scope": scope,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    if organization:
        claims["org"] = organization
    if isinstance(keys, str):
        return jwt.encode(claims, keys, algorithm="HS256")
    return keys.sign(claims)


def _invalid_token(message: str) -> Unauthorized:
    return Unauthorized(message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer ...`` header value, or Unauthorized."""
    kind, _, token = (authorization or "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise Unauthorized("a bearer access token is required",
                           headers={"WWW-Authenticate": 'Bearer realm="hub"'})
    return token.strip()


def principal_from_token(token: str, keys: TokenKeys | str, issuer: str,
                         max_lifetime: int = MAX_TOKEN_LIFETIME,
                         now: int | None = None) -> Principal:
    """The Principal of a valid access token of this hub, or Unauthorized saying why not.

    The token's ``kid`` picks the key and the key fixes the algorithm; a token whose
    lifetime (``exp - iat``) exceeds ``max_lifetime`` or issued in the future is refused.
    Whether the client is still active is the caller's check (it needs the database).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _invalid_token("the access token is not valid") from None
    verification = _verification(keys, header)
    if verification is None or header.get("alg") != verification[1]:
        raise _invalid_token("the access token is not valid")
    try:
        claims = jwt.decode(token, verification[0], algorithms=[verification[1]],
                            issuer=issuer,
                            options={"require": ["exp", "iat", "iss", "sub", "scope"]})
    except jwt.ExpiredSignatureError:
        raise _invalid_token("the access token has expired") from None
    except jwt.PyJWTError:
        raise _invalid_token("the access token is not valid") from None
    current = int(time.time()) if now is None else now
    if not isinstance(claims["iat"], int) or not isinstance(claims["exp"], int) \
            or claims["exp"] - claims["iat"] > max_lifetime or claims["iat"] > current + 60:
        raise _invalid_token("the access token's lifetime is longer than this hub issues")
    try:
        scopes = parse_scopes(claims["scope"])
    except (ValueError, AttributeError):
        raise _invalid_token("the access token carries malformed scopes") from None
    return Principal(claims["sub"], claims["scope"], claims.get("org"), scopes)


class VerifiedTokens:
    """The Principals of access tokens already verified, until each token's ``exp``.

    ``principal_from_token`` checks a signature (ES256/RS256: ~0.2 ms) and parses the
    scopes on every request; a client sends the same token for up to 300 s. A token seen
    before answers from here (the same claims, the expiry checked again at each use), so a
    cached token is never accepted past its ``exp``. Refused tokens are not kept. Bounded
    (least recently used out); one per app, tied to its signing keys. Whether the client is
    still active is checked on every request by the caller, cached or not.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._found: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._keys: object = None

    def principal(self, token: str, keys: TokenKeys | str, issuer: str,
                  max_lifetime: int = MAX_TOKEN_LIFETIME) -> Principal:
        now = int(time.time())
        with self._lock:
            if self._keys is not keys:  # other keys: nothing verified before counts
                self._found.clear()
                self._keys = keys
            hit = self._found.get(token)
            if hit is not None:
                self._found.move_to_end(token)
        if hit is not None:
            principal, expires = hit
            if now < expires:  # PyJWT refuses a token when exp <= now
                return principal
            raise _invalid_token("the access token has expired")
        principal = principal_from_token(token, keys, issuer, max_lifetime, now)
        expires = int(jwt.decode(token, options={"verify_signature": False})["exp"])
        with self._lock:
            self._found[token] = (principal, expires)
            while len(self._found) > self._size:
                self._found.popitem(last=False)
        return principal


def revoked_client() -> Unauthorized:
    """The error for a valid token whose client was revoked or removed since."""
    return _invalid_token("the client of this token is revoked")
