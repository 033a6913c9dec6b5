"""The keys that sign the hub's access tokens: several, each with a ``kid``; the first
signs, all verify (rotation). No key is kept in the database.

Where they come from (``load_keyring``), first match wins for signing:

1. ``HUB_SIGNING_KEY_FILE``: a JWKS file of private keys, readable by its owner only
   (mode 0600; anything wider is refused). ``hub keys rotate`` adds a key in front.
2. ``HUB_SIGNING_KEYS``: the same JWKS JSON in the environment.
3. ``HUB_SECRET_KEY``: one HS256 secret (kid ``hub-secret``); when 1 or 2 is set too it
   only verifies (tokens issued before the switch, for their lifetime).
4. none of these: SQLite keeps a generated ES256 key file beside the database file (0600);
   an in-memory database gets a key for the process; PostgreSQL refuses to start.

Keys: ES256 (EC P-256) and RS256 (RSA >= 2048) private JWKs, whose public halves are
published at ``/.well-known/jwks.json``; or HS256 (``kty: oct``, >= 32 bytes), never published.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from hub.clock import utcnow

_ALGS = {("EC", "P-256"): "ES256", ("RSA", None): "RS256", ("oct", None): "HS256"}
LEGACY_KID = "hub-secret"


class SigningKeyError(ValueError):
    """A key source that cannot be used (bad file mode, malformed JWKS, weak key)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    key: Any  # HMAC secret (bytes) or a private key object
    public_jwk: dict | None = None  # asymmetric keys only

    @property
    def verify_key(self) -> Any:
        return self.key if self.alg == "HS256" else self.key.public_key()


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[SigningKey, ...]
    #: verifies tokens that carry no ``kid`` (issued with HUB_SECRET_KEY before kids)
    legacy: SigningKey | None = None

    @property
    def signer(self) -> SigningKey:
        return self.keys[0]

    def sign(self, claims: dict) -> str:
        k = self.signer
        return jwt.encode(claims, k.key, algorithm=k.alg, headers={"kid": k.kid})

    def for_token(self, header: dict) -> SigningKey | None:
        """The key that must have signed a token with this (unverified) header."""
        kid = header.get("kid")
        if kid is None:
            return self.legacy
        return next((k for k in self.keys if k.kid == kid), None) or (
            self.legacy if self.legacy and self.legacy.kid == kid else None)

    def public_jwks(self) -> dict:
        return {"keys": [k.public_jwk for k in self.keys if k.public_jwk]}


def _b64(data: str) -> bytes:
    return jwt.utils.base64url_decode(data.encode())


def key_from_jwk(jwk: dict) -> SigningKey:
    """A signing key from one private JWK, or SigningKeyError saying why not."""
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
        raise SigningKeyError("every signing key needs a 'kid'")
    kid, kty = jwk["kid"], jwk.get("kty")
    alg = _ALGS.get((str(kty), jwk.get("crv")))
    if alg is None or jwk.get("alg", alg) != alg:
        raise SigningKeyError(f"signing key {kid!r}: use ES256 (EC P-256), RS256 or HS256 (oct)")
    if alg == "HS256":
        secret = _b64(str(jwk.get("k", "")))
        if len(secret) < 32:
            raise SigningKeyError(f"signing key {kid!r}: an HS256 key needs at least 32 bytes")
        return SigningKey(kid, alg, secret)
    if "d" not in jwk:
        raise SigningKeyError(f"signing key {kid!r} has no private part ('d')")
    try:
        private = jwt.PyJWK(jwk, algorithm=alg).key
    except jwt.PyJWTError as exc:
        raise SigningKeyError(f"signing key {kid!r} is not a valid JWK: {exc}") from None
    if alg == "RS256" and private.key_size < 2048:
        raise SigningKeyError(f"signing key {kid!r}: RSA keys need at least 2048 bits")
    to_jwk = ECAlgorithm.to_jwk if alg == "ES256" else RSAAlgorithm.to_jwk
    public = to_jwk(private.public_key(), as_dict=True)
    public.update(kid=kid, alg=alg, use="sig")
    return SigningKey(kid, alg, private, public)


def keys_from_jwks(text: str, where: str) -> tuple[SigningKey, ...]:
    try:
        data = json.loads(text)
    except ValueError:
        raise SigningKeyError(f"{where} is not JSON (a JWKS of private keys)") from None
    jwks = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(jwks, list) or not jwks:
        raise SigningKeyError(f"{where} needs a non-empty 'keys' array")
    keys = tuple(key_from_jwk(k) for k in jwks)
    if len({k.kid for k in keys}) != len(keys):
        raise SigningKeyError(f"{where}: each key needs its own 'kid'")
    return keys


def read_key_file(path: str | Path) -> tuple[SigningKey, ...]:
    """The keys of a JWKS file that only its owner may read (SigningKeyError otherwise)."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SigningKeyError(f"the signing key file {path} is readable by others "
                        f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}")
    return keys_from_jwks(path.read_text(encoding="utf-8"), str(path))


def new_es256_jwk() -> dict:
    """A fresh private ES256 JWK with a dated ``kid``."""
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private, as_dict=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    jwk.update(kid=f"es256-{stamp}-{secrets.token_hex(3)}", alg="ES256", use="sig")
    return jwk


def write_key_file(path: str | Path, jwks: dict, *, exclusive: bool = False) -> None:
    """Write ``jwks`` to ``path`` with mode 0600, atomically: the file appears complete or
    not at all. ``exclusive``: FileExistsError if another process made it first (the file
    is published with a hard link, which fails when the name exists)."""
    path = Path(path)
    data = json.dumps(jwks, indent=2).encode()
    staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(staged, path)
        else:
            os.replace(staged, path)
    finally:
        if staged.exists():
            staged.unlink()


def rotate_key_file(path: str | Path, keep: int = 3) -> str:
    """Put a new ES256 key in front of the file's keys (it signs from now on); keep the
    ``keep`` newest older ones for verification. Returns the new kid."""
    path = Path(path)
    old = json.loads(path.read_text(encoding="utf-8"))["keys"] if path.exists() else []
    if path.exists():
        read_key_file(path)  # refuse to rotate a file with a bad mode or bad keys
    new = new_es256_jwk()
    write_key_file(path, {"keys": [new, *old[:keep]]})
    return new["kid"]


def _generated_beside(db_file: Path) -> tuple[SigningKey, ...]:
    path = db_file.with_name(db_file.name + ".signing-keys.json")
    # another process of this hub may have made it first: then use theirs
    with contextlib.suppress(FileExistsError):
        write_key_file(path, {"keys": [new_es256_jwk()]}, exclusive=True)
    return read_key_file(path)


def load_keyring(*, signing_key_file: str = "", signing_keys: str = "", secret_key: str = "",
                 sqlite: bool = False, sqlite_path: Path | None = None) -> KeyRing:
    """The hub's keys from its settings (see the module docstring), or SigningKeyError."""
    legacy = SigningKey(LEGACY_KID, "HS256", secret_key.encode()) if secret_key else None
    if signing_key_file:
        keys = read_key_file(signing_key_file)
    elif signing_keys:
        keys = keys_from_jwks(signing_keys, "HUB_SIGNING_KEYS")
    elif legacy is not None:
        keys = (legacy,)
    elif sqlite:
        keys = _generated_beside(sqlite_path) if sqlite_path \
            else (key_from_jwk(new_es256_jwk()),)
    else:
        raise SigningKeyError("no token signing key: set HUB_SIGNING_KEY_FILE (a JWKS file, mode "
                        "0600; `hub keys rotate --file PATH` makes one) or HUB_SIGNING_KEYS")
    return KeyRing(keys, legacy)
