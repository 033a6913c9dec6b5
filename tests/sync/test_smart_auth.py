"""SMART Backend Services and client-secret token clients (responses as the token server)."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from responses import matchers

from hub.adapters.errors import PartnerRejected, PartnerUnavailable
from hub.adapters.fhir_rest import FhirRestClient
from hub.adapters.smart_auth import CLIENT_ASSERTION_TYPE, ClientSecretAuth, SmartBackendAuth

TOKEN_URL = "https://auth.insurer.test/token"
BASE = "https://fhir.insurer.test/r4"


class Clock:
    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def _token_callback(forms: list, expires_in: int = 300):
    def callback(request):
        forms.append({k: v[0] for k, v in parse_qs(request.body).items()})
        forms[-1]["_authorization"] = request.headers.get("Authorization")
        return 200, {}, json.dumps({"access_token": f"tok-{len(forms)}", "token_type": "bearer",
                                    "expires_in": expires_in, "scope": "system/*.rs"})
    return callback


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_assertion_claims_verify_with_the_public_key(http, alg, rsa_key, ec_key):
    key = rsa_key if alg == "RS384" else ec_key
    forms: list = []
    http.add_callback("POST", TOKEN_URL, callback=_token_callback(forms))
    clock = Clock()
    auth = SmartBackendAuth(TOKEN_URL, "hub-client", _pem(key), kid="k1", alg=alg,
                            scope="system/Claim.c system/*.rs", clock=clock)
    assert auth.headers() == {"Authorization": "Bearer tok-1"}
    form = forms[0]
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "system/Claim.c system/*.rs"
    assert form["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    header = jwt.get_unverified_header(form["client_assertion"])
    assert header == {"alg": alg, "kid": "k1", "typ": "JWT"}
    claims = jwt.decode(form["client_assertion"], key.public_key(), algorithms=[alg],
                        audience=TOKEN_URL, options={"verify_exp": False})
    assert claims["iss"] == claims["sub"] == "hub-client"
    assert claims["aud"] == TOKEN_URL
    assert 0 < claims["exp"] - clock.now <= 300
    assert claims["jti"]


def test_each_assertion_has_a_unique_jti(rsa_key):
    auth = SmartBackendAuth(TOKEN_URL, "c", _pem(rsa_key), kid="k1")
    jtis = {jwt.decode(auth.client_assertion(), rsa_key.public_key(), algorithms=["RS384"],
                       audience=TOKEN_URL)["jti"] for _ in range(5)}
    assert len(jtis) == 5


def test_token_is_cached_until_shortly_before_expiry(http, rsa_key):
    forms: list = []
    http.add_callback("POST", TOKEN_URL, callback=_token_callback(forms, expires_in=300))
    clock = Clock()
    auth = SmartBackendAuth(TOKEN_URL, "c", _pem(rsa_key), kid="k1", clock=clock)
    assert auth.access_token() == "tok-1"
    clock.now += 200
    assert auth.access_token() == "tok-1"
    assert len(forms) == 1
    clock.now += 80  # 280 s: inside the refresh margin
    assert auth.access_token() == "tok-2"
    assert len(forms) == 2
    assert forms[0]["client_assertion"] != forms[1]["client_assertion"]


def test_unsupported_algorithm_is_refused(rsa_key):
    with pytest.raises(ValueError, match="RS384 or ES384"):
        SmartBackendAuth(TOKEN_URL, "c", _pem(rsa_key), kid="k1", alg="RS256")


def test_client_secret_uses_basic_auth(http):
    forms: list = []
    http.add_callback("POST", TOKEN_URL, callback=_token_callback(forms))
    auth = ClientSecretAuth(TOKEN_URL, "hub", "s3cret", scope="system/*.read")
    assert auth.access_token() == "tok-1"
    expected = "Basic " + base64.b64encode(b"hub:s3cret").decode()
    assert forms[0]["_authorization"] == expected
    assert forms[0]["grant_type"] == "client_credentials"
    assert "client_secret" not in forms[0]


def test_token_endpoint_failures(http):
    http.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    http.post(TOKEN_URL, status=503)
    auth = ClientSecretAuth(TOKEN_URL, "hub", "wrong")
    with pytest.raises(PartnerRejected):
        auth.access_token()
    with pytest.raises(PartnerUnavailable):
        auth.access_token()


def test_client_sends_bearer_and_refreshes_once_after_401(http, rsa_key):
    forms: list = []
    http.add_callback("POST", TOKEN_URL, callback=_token_callback(forms))
    auth = SmartBackendAuth(TOKEN_URL, "c", _pem(rsa_key), kid="k1")
    client = FhirRestClient("acme", BASE, auth=auth, timeout=1)
    http.get(f"{BASE}/Coverage/c1", status=401,
             match=[matchers.header_matcher({"Authorization": "Bearer tok-1"})])
    http.get(f"{BASE}/Coverage/c1", json={"resourceType": "Coverage", "id": "c1"},
             match=[matchers.header_matcher({"Authorization": "Bearer tok-2"})])
    assert client.read("Coverage", "c1").resource_id == "c1"
    assert len(forms) == 2
    client.close()


def test_metadata_is_read_without_a_token(http, rsa_key):
    auth = SmartBackendAuth(TOKEN_URL, "c", _pem(rsa_key), kid="k1")
    client = FhirRestClient("acme", BASE, auth=auth, timeout=1)
    http.get(f"{BASE}/metadata", json={"resourceType": "CapabilityStatement"})
    assert client.capabilities()["resourceType"] == "CapabilityStatement"
    client.close()
