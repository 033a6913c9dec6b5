"""Issue 9 item 9: credentials, tried as an attacker would.

Guessing secrets is throttled per client id and per source address (429 + Retry-After),
failures are logged with the client id and never the secret, token keys come from a 0600
file (rotation by ``kid``, public keys at /.well-known/jwks.json, HS256 never published),
a token living longer than the hub issues is refused, and the SQLite file is 0600.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from hub import create_app
from hub.config import Settings
from hub.signing_keys import SigningKeyError, new_es256_jwk, rotate_key_file, write_key_file
from hub.store.uow import UnitOfWork

ATTACKER, OFFICE = "203.0.113.9", "198.51.100.7"


def _register(app, scope="system/*.read"):
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        registered, secret = uow.clients.create("victim", scope)
        uow.commit()
    return registered.client_id, secret


def _token(client, cid, secret, addr):
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    return client.post("/auth/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {basic}"},
                       environ_base={"REMOTE_ADDR": addr})


def test_guessing_a_clients_secret_is_throttled(app, client, caplog):
    cid, secret = _register(app)
    other_cid, other_secret = _register(app)
    caplog.set_level(logging.INFO)
    statuses = [_token(client, cid, f"guess-{i:04d}", ATTACKER).status_code
                for i in range(100)]
    assert statuses.count(401) == 10 and statuses.count(429) == 90, statuses[:15]
    refused = _token(client, cid, "guess-x", ATTACKER)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Cache-Control"] == "no-store"
    # the real secret from elsewhere: that client id is locked out until the window ends
    assert _token(client, cid, secret, OFFICE).status_code == 429
    # another client from another address is not affected
    assert _token(client, other_cid, other_secret, OFFICE).status_code == 200
    # failures are logged with the client id, never the secret
    text = caplog.text
    assert text.count(f"token request refused for client '{cid}'") == 10
    assert "guess-0" not in text and secret not in text


def test_spraying_many_client_ids_from_one_address_is_throttled(app, client):
    cid, secret = _register(app)
    statuses = [_token(client, f"client-{i}", "wrong", ATTACKER).status_code
                for i in range(60)]
    assert statuses.count(401) == 30 and statuses.count(429) == 30
    assert _token(client, cid, secret, ATTACKER).status_code == 429
    assert _token(client, cid, secret, OFFICE).status_code == 200


def test_successful_token_requests_are_not_throttled(app, client):
    cid, secret = _register(app)
    assert {_token(client, cid, secret, OFFICE).status_code for _ in range(40)} == {200}


def test_a_token_living_three_years_is_refused(app, client, settings, auth_headers):
    cid, secret = _register(app, "system/*.cruds")
    good = _token(client, cid, secret, OFFICE).get_json()["access_token"]
    assert client.get("/fhir/Patient", headers={"Authorization": f"Bearer {good}"}) \
        .status_code == 200
    now = int(time.time())
    claims = {"iss": "http://hub.test", "sub": cid, "scope": "system/*.cruds",
              "iat": now, "exp": now + 3 * 365 * 86400, "jti": "long"}
    forged = jwt.encode(claims, settings.secret_key, algorithm="HS256",
                        headers={"kid": "hub-secret"})
    resp = client.get("/fhir/Patient", headers={"Authorization": f"Bearer {forged}"})
    assert resp.status_code == 401
    assert "lifetime" in resp.get_json()["issue"][0]["diagnostics"]
    claims.update(iat=now + 3600, exp=now + 3700)  # issued in the future
    forged = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    assert client.get("/fhir/Patient", headers={"Authorization": f"Bearer {forged}"}) \
        .status_code == 401


def _key_file(tmp_path, *jwks, mode=0o600):
    path = tmp_path / "keys.json"
    if path.exists():
        path.unlink()
    write_key_file(path, {"keys": list(jwks)}, exclusive=True)
    os.chmod(path, mode)
    return path


def _app(settings, **kw):
    import dataclasses

    app = create_app(dataclasses.replace(settings, secret_key="", **kw), migrate=False)
    app.config["TESTING"] = True
    return app


def test_keys_from_a_0600_file_rotate_by_kid(settings, tmp_path):
    old, new = new_es256_jwk(), new_es256_jwk()
    hmac = {"kty": "oct", "kid": "hs-1", "alg": "HS256",
            "k": jwt.utils.base64url_encode(os.urandom(32)).decode()}
    app = _app(settings, signing_key_file=str(_key_file(tmp_path, old, hmac)))
    try:
        cid, secret = _register(app, "system/*.cruds")
        client = app.test_client()
        before = _token(client, cid, secret, OFFICE).get_json()["access_token"]
        assert jwt.get_unverified_header(before) == {"alg": "ES256", "kid": old["kid"],
                                                     "typ": "JWT"}
    finally:
        app.extensions["hub.db"].dispose()
    # rotation: the new key signs, the old one still verifies tokens issued before
    app = _app(settings, signing_key_file=str(_key_file(tmp_path, new, old, hmac)))
    try:
        client = app.test_client()
        after = _token(client, cid, secret, OFFICE).get_json()["access_token"]
        assert jwt.get_unverified_header(after)["kid"] == new["kid"]
        for token in (before, after):
            assert client.get("/fhir/Patient", headers={
                "Authorization": f"Bearer {token}"}).status_code == 200
        published = client.get("/.well-known/jwks.json").get_json()["keys"]
        assert [k["kid"] for k in published] == [new["kid"], old["kid"]]
        assert all("d" not in k for k in published)  # public halves only; HS256 never
        # algorithm confusion: HS256 keyed with the published public key, the ES256 kid
        pem = jwt.PyJWK(published[0]).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        body = jwt.decode(after, options={"verify_signature": False})
        enc = jwt.utils.base64url_encode
        import hashlib
        import hmac as hmac_lib
        head = enc(json.dumps({"alg": "HS256", "kid": new["kid"]}).encode())
        signing_input = head + b"." + enc(json.dumps(body).encode())
        sig = enc(hmac_lib.new(pem, signing_input, hashlib.sha256).digest())
        confused = (signing_input + b"." + sig).decode()
        assert client.get("/fhir/Patient", headers={
            "Authorization": f"Bearer {confused}"}).status_code == 401
        # a kid the hub does not have
        unknown = jwt.encode(body, jwt.PyJWK(new_es256_jwk()).key, algorithm="ES256",
                             headers={"kid": "es256-attacker"})
        assert client.get("/fhir/Patient", headers={
            "Authorization": f"Bearer {unknown}"}).status_code == 401
    finally:
        app.extensions["hub.db"].dispose()
    # retired: a key removed from the file no longer verifies
    app = _app(settings, signing_key_file=str(_key_file(tmp_path, new)))
    try:
        assert app.test_client().get("/fhir/Patient", headers={
            "Authorization": f"Bearer {before}"}).status_code == 401
    finally:
        app.extensions["hub.db"].dispose()


def test_a_key_file_others_can_read_is_refused(settings, tmp_path):
    path = _key_file(tmp_path, new_es256_jwk(), mode=0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        _app(settings, signing_key_file=str(path))
    path.chmod(0o600)
    path.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "weak", "k": "c2hvcnQ"}]}))
    with pytest.raises(SigningKeyError, match="32 bytes"):
        _app(settings, signing_key_file=str(path))


def test_keys_from_the_environment_and_hub_keys_rotate(settings, tmp_path):
    env = Settings.from_env({"HUB_SIGNING_KEYS": json.dumps({"keys": [new_es256_jwk()]})})
    app = _app(settings, signing_keys=env.signing_keys)
    try:
        assert len(app.test_client().get("/.well-known/jwks.json").get_json()["keys"]) == 1
    finally:
        app.extensions["hub.db"].dispose()
    path = tmp_path / "rotating.json"
    first = rotate_key_file(path)
    second = rotate_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    kids = [k["kid"] for k in json.loads(path.read_text())["keys"]]
    assert kids == [second, first]


def test_the_sqlite_database_file_is_created_0600(tmp_path):
    from hub.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(Settings(database_url=url, secret_key="s" * 40), migrate=True)
    try:
        upgrade(url)
        assert (tmp_path / "fresh.db").stat().st_mode & 0o777 == 0o600
    finally:
        app.extensions["hub.db"].dispose()


def test_hub_keys_rotate_command(tmp_path):
    from click.testing import CliRunner

    from hub.cli import main

    path = tmp_path / "k.json"
    result = CliRunner().invoke(main, ["keys", "rotate", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o640)
    result = CliRunner().invoke(main, ["keys", "rotate", "--file", str(path)])
    assert result.exit_code != 0 and "chmod 600" in result.output


def test_the_limiter_runs_for_token_and_sign_in_requests_only(app, client, auth_headers):
    """Its request hooks run for the blueprints it has limits on (``hub.routes.auth``): a
    token request is looked at (rate-limit headers, its context), a FHIR read is not."""
    from flask.globals import request_ctx

    cid, secret = _register(app)
    with client:
        assert _token(client, cid, secret, OFFICE).status_code == 200
        assert hasattr(request_ctx._get_current_object(), "_limiter_request_context")
    hdr = auth_headers("system/*.cruds")
    with client:
        resp = client.get("/fhir/metadata", headers=hdr)
        assert resp.status_code == 200
        assert not hasattr(request_ctx._get_current_object(), "_limiter_request_context")
        assert not any(h.lower().startswith("x-ratelimit") for h, _ in resp.headers.items())
    with client:  # a failed guess is still counted and answered with the limit's headers
        resp = _token(client, cid, "wrong", OFFICE)
        assert resp.status_code == 401
        assert any(h.lower().startswith("x-ratelimit") for h, _ in resp.headers.items())
