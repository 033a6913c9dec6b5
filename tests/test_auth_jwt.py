"""SMART Backend Services: private_key_jwt client assertions at POST /auth/token."""

import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from hub.security import validate_jwks
from hub.store.uow import UnitOfWork

TOKEN_URL = "http://hub.test/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve=None):
    return ec.generate_private_key(curve or ec.SECP384R1())


def public_jwk(private_key, kid):
    algo = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = algo.to_jwk(private_key.public_key(), as_dict=True)
    jwk["kid"] = kid
    return jwk


@pytest.fixture(scope="module")
def keys():
    """One RSA and one EC P-384 key pair, made once for the module."""
    return {"rsa": rsa_key(), "ec": ec_key()}


@pytest.fixture
def jwks_client(app, keys):
    """A private_key_jwt client registered with both public keys; returns its client_id."""
    jwks = {"keys": [public_jwk(keys["rsa"], "rsa-1"), public_jwk(keys["ec"], "ec-1")]}
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        registered, secret = uow.clients.create("agency", "system/Task.cruds system/*.read",
                                                organization="Organization/acme-home",
                                                jwks=jwks)
        uow.commit()
    assert secret is None
    return registered.client_id


def assertion(client_id, key, kid="rsa-1", alg="RS384", headers=None, **claims):
    """A signed client assertion; ``claims`` override (None removes one)."""
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 240,
            "jti": str(uuid.uuid4())}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    head = {"kid": kid, "typ": "JWT"}
    head.update(headers or {})
    return jwt.encode(body, key, algorithm=alg, headers=head)


def post(client, token, scope="system/Task.rs", **extra):
    data = {"grant_type": "client_credentials", "scope": scope,
            "client_assertion_type": ASSERTION_TYPE, "client_assertion": token}
    data.update(extra)
    return client.post("/auth/token", data={k: v for k, v in data.items() if v is not None})


def refused(resp, error="invalid_client", status=401):
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"] == error
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.get_json()["error_description"]


@pytest.mark.parametrize("key_name, kid, alg", [("rsa", "rsa-1", "RS384"),
                                                ("ec", "ec-1", "ES384")])
def test_rs384_and_es384_assertions_get_a_token(client, keys, jwks_client, key_name, kid,
                                                alg):
    resp = post(client, assertion(jwks_client, keys[key_name], kid=kid, alg=alg))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["token_type"] == "bearer" and body["expires_in"] <= 300
    assert body["scope"] == "system/Task.rs"
    assert resp.headers["Cache-Control"] == "no-store"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    with client.application.test_request_context("/", headers=headers):
        from hub.routes.guards import authenticate

        principal = authenticate()
    assert (principal.client_id, principal.organization) == (jwks_client,
                                                             "Organization/acme-home")


def test_scope_is_narrowed_for_jwt_clients(client, keys, jwks_client):
    resp = post(client, assertion(jwks_client, keys["rsa"]), scope="system/*.cruds")
    assert resp.get_json()["scope"] == "system/Task.cruds system/*.rs"
    refused(post(client, assertion(jwks_client, keys["rsa"]), scope="system/Claim.c"),
            "invalid_scope", 400)


def test_matching_client_id_parameter_is_accepted(client, keys, jwks_client):
    resp = post(client, assertion(jwks_client, keys["rsa"]), client_id=jwks_client)
    assert resp.status_code == 200


def test_signature_by_another_key_is_refused(client, jwks_client):
    assert "Signature" in refused(post(client, assertion(jwks_client, rsa_key(), kid="rsa-1")))
    assert "Signature" in refused(post(client, assertion(jwks_client, ec_key(), kid="ec-1",
                                                         alg="ES384")))


def test_tampered_assertion_is_refused(client, keys, jwks_client):
    token = assertion(jwks_client, keys["rsa"])
    head, payload, sig = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["exp"] += 1
    tampered = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    assert "Signature" in refused(post(client, f"{head}.{tampered}.{sig}"))


def test_unknown_kid_is_refused(client, keys, jwks_client):
    assert "kid" in refused(post(client, assertion(jwks_client, keys["rsa"], kid="other")))


def test_missing_kid_is_refused(client, keys, jwks_client):
    token = jwt.encode({"iss": jwks_client, "sub": jwks_client, "aud": TOKEN_URL,
                        "exp": int(time.time()) + 60, "jti": "x"}, keys["rsa"],
                       algorithm="RS384")
    refused(post(client, token))


def test_key_of_the_wrong_type_for_alg_is_refused(client, keys, jwks_client):
    # the EC key's kid in an RS384 assertion (signed with the RSA key)
    refused(post(client, assertion(jwks_client, keys["rsa"], kid="ec-1", alg="RS384")))


def forged(header: dict, claims: dict, hmac_key: bytes | None) -> str:
    """A JWT an attacker could make without the private key: HMAC-signed or unsigned."""
    enc = jwt.utils.base64url_encode
    signing_input = enc(json.dumps(header).encode()) + b"." + enc(json.dumps(claims).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384}.get(header["alg"])
    signature = enc(hmac.new(hmac_key, signing_input, digest).digest()) if digest else b""
    return (signing_input + b"." + signature).decode()


@pytest.mark.parametrize("alg", ["HS256", "HS384", "none"])
def test_symmetric_and_none_algorithms_are_refused(client, keys, jwks_client, alg):
    # HMAC keyed with the registered public key: the classic algorithm-confusion attack
    pem = keys["rsa"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = {"iss": jwks_client, "sub": jwks_client, "aud": TOKEN_URL,
              "exp": int(time.time()) + 60, "jti": str(uuid.uuid4())}
    token = forged({"alg": alg, "kid": "rsa-1", "typ": "JWT"}, claims, pem)
    assert "alg" in refused(post(client, token))


def test_rs256_is_refused(client, keys, jwks_client):
    refused(post(client, assertion(jwks_client, keys["rsa"], alg="RS256")))


def test_replayed_jti_is_refused(client, keys, jwks_client):
    token = assertion(jwks_client, keys["rsa"])
    assert post(client, token).status_code == 200
    assert "jti" in refused(post(client, token))
    # same jti in a freshly signed assertion is a replay too
    claims = jwt.decode(token, options={"verify_signature": False})
    again = assertion(jwks_client, keys["ec"], kid="ec-1", alg="ES384", jti=claims["jti"])
    refused(post(client, again))


def test_expired_jtis_are_pruned(app, jwks_client):
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        assert uow.clients.use_jti(jwks_client, "old", expires_at=1000, now=900)
        assert not uow.clients.use_jti(jwks_client, "old", expires_at=1000, now=950)
        # once expired it is pruned, so the id is free again (its assertion is expired)
        assert uow.clients.use_jti(jwks_client, "old", expires_at=2000, now=1001)
        uow.commit()


def test_exp_too_far_ahead_is_refused(client, keys, jwks_client):
    far = int(time.time()) + 330
    assert "ahead" in refused(post(client, assertion(jwks_client, keys["rsa"], exp=far)))


@pytest.mark.parametrize("claim", ["exp", "jti", "aud", "sub"])
def test_required_claims(client, keys, jwks_client, claim):
    assert claim in refused(post(client, assertion(jwks_client, keys["rsa"],
                                                   **{claim: None})))


def test_expired_assertion_is_refused(client, keys, jwks_client):
    past = int(time.time()) - 5
    assert "expired" in refused(post(client, assertion(jwks_client, keys["rsa"], exp=past)))


@pytest.mark.parametrize("aud", ["http://hub.test/fhir", "http://evil.test/auth/token",
                                 ["http://hub.test"]])
def test_wrong_aud_is_refused(client, keys, jwks_client, aud):
    assert "aud" in refused(post(client, assertion(jwks_client, keys["rsa"], aud=aud)))


def test_sub_other_than_iss_is_refused(client, keys, jwks_client):
    assert "subject" in refused(post(client, assertion(jwks_client, keys["rsa"],
                                                       sub="someone-else")))


def test_unknown_issuer_is_refused(client, keys, jwks_client):
    refused(post(client, assertion("unknown", keys["rsa"])))


def test_client_id_parameter_must_match_iss(client, keys, jwks_client):
    refused(post(client, assertion(jwks_client, keys["rsa"]), client_id="other"))


def test_jku_header_is_refused(client, keys, jwks_client):
    token = assertion(jwks_client, keys["rsa"],
                      headers={"jku": "https://evil.test/jwks.json"})
    assert "jku" in refused(post(client, token))


def test_wrong_assertion_type_is_invalid_request(client, keys, jwks_client):
    resp = post(client, assertion(jwks_client, keys["rsa"]),
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:saml2")
    refused(resp, "invalid_request", 400)
    refused(post(client, None), "invalid_request", 400)


def test_garbage_assertion_is_refused(client, jwks_client):
    refused(post(client, "not-a-jwt"))


def test_secret_client_cannot_use_an_assertion(client, app, keys):
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        registered, _ = uow.clients.create("secretive", "system/*.read")
        uow.commit()
    refused(post(client, assertion(registered.client_id, keys["rsa"])))


def test_jwks_client_cannot_use_a_secret(client, jwks_client):
    resp = client.post("/auth/token", data={"grant_type": "client_credentials",
                                            "client_id": jwks_client, "client_secret": ""})
    refused(resp)


def test_revoked_jwt_client_is_refused(client, app, keys, jwks_client):
    token = post(client, assertion(jwks_client, keys["rsa"])).get_json()["access_token"]
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        uow.clients.revoke(jwks_client)
        uow.commit()
    assert "revoked" in refused(post(client, assertion(jwks_client, keys["rsa"])))
    with app.test_request_context("/", headers={"Authorization": f"Bearer {token}"}):
        from hub.errors import Unauthorized
        from hub.routes.guards import authenticate

        with pytest.raises(Unauthorized):
            authenticate()


def test_short_rsa_key_is_refused_at_token_time(client, app):
    small = rsa_key(1024)
    jwk = public_jwk(small, "small")
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        # bypass registration checks to prove the token endpoint refuses it too
        registered, _ = uow.clients.create("weak", "system/*.read",
                                           jwks={"keys": [public_jwk(rsa_key(), "ok")]})
        from sqlalchemy import update

        from hub.store.client_tables import clients

        uow.session.execute(update(clients).values(jwks=json.dumps({"keys": [jwk]}))
                            .where(clients.c.client_id == registered.client_id))
        uow.commit()
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        token = assertion(registered.client_id, small, kid="small")
    assert "key" in refused(post(client, token, scope="system/*.read"))


@pytest.mark.parametrize("jwks, message", [
    ({"keys": []}, "non-empty"),
    ([], "non-empty"),
    ({"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}, "kid"),
    ({"keys": [{"kid": "a"}]}, "kty"),
    ({"keys": [{"kid": "a", "kty": "oct", "k": "c2VjcmV0"}]}, "private"),
])
def test_jwks_validation(jwks, message):
    with pytest.raises(ValueError, match=message):
        validate_jwks(jwks)


def test_jwks_validation_of_real_keys():
    private = rsa_key()
    with pytest.raises(ValueError, match="private key material"):
        validate_jwks({"keys": [dict(RSAAlgorithm.to_jwk(private, as_dict=True), kid="p")]})
    with pytest.raises(ValueError, match="P-384"):
        validate_jwks({"keys": [public_jwk(ec_key(ec.SECP256R1()), "p256")]})
    with pytest.raises(ValueError, match="2048"):
        validate_jwks({"keys": [public_jwk(rsa_key(1024), "short")]})
    with pytest.raises(ValueError, match="unique"):
        validate_jwks({"keys": [public_jwk(private, "same"), public_jwk(ec_key(), "same")]})
    with pytest.raises(ValueError, match="usable with"):
        validate_jwks({"keys": [dict(public_jwk(private, "a"), alg="RS256")]})
    ok = {"keys": [public_jwk(private, "r"), public_jwk(ec_key(), "e")]}
    assert validate_jwks(ok) == ok
