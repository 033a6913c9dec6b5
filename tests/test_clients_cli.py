"""``hub clients create/list/revoke`` against the test database."""

import base64
import json
import time
import uuid

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from hub.cli import main
from hub.store.uow import UnitOfWork


@pytest.fixture
def hub(app, database_url):
    """Run ``hub --database-url <test db> ...``; ``app`` first empties the tables."""
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, ["--database-url", database_url, *args])

    return run


def get_token(client, client_id, secret, scope=None):
    auth = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    return client.post("/auth/token", data=data, headers={"Authorization": f"Basic {auth}"})


def test_create_prints_id_and_secret_once(hub, client, app):
    # unbound: a client bound to an organization may not hold Case or wildcard scopes
    # (issue 9 item 2, tests/security/test_bound_clients.py)
    result = hub("clients", "create", "St Mary's EHR", "--scope",
                 "system/Case.cruds system/*.read")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    client_id, secret = lines["client_id"], lines["client_secret"]
    assert "not shown again" in result.stderr
    resp = get_token(client, client_id, secret, "system/Case.rs")
    assert resp.status_code == 200
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        stored = uow.clients.get(client_id)
    assert (stored.name, stored.scope, stored.organization) == (
        "St Mary's EHR", "system/Case.cruds system/*.read", None)
    assert secret not in (stored.secret_hash or "")


def test_create_json(hub, client):
    result = hub("clients", "create", "internal UI", "--scope", "system/*.cruds", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) == {"client_id", "client_secret"}
    assert get_token(client, body["client_id"], body["client_secret"]).status_code == 200


def test_create_with_jwks_file(hub, client, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    jwks = {"keys": [dict(RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), kid="r1"),
                     dict(ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), kid="e1")]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    result = hub("clients", "create", "Acme Home Health", "--scope", "system/Task.cruds",
                 "--organization", "Organization/acme-home", "--jwks", str(path), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["client_secret"] is None
    now = int(time.time())
    assertion = jwt.encode({"iss": body["client_id"], "sub": body["client_id"],
                            "aud": "http://hub.test/auth/token", "exp": now + 60,
                            "jti": str(uuid.uuid4())}, ec_key, algorithm="ES384",
                           headers={"kid": "e1"})
    resp = client.post("/auth/token", data={
        "grant_type": "client_credentials", "scope": "system/Task.rs",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})
    assert resp.status_code == 200, resp.get_json()


@pytest.mark.parametrize("args, message", [
    (["--scope", "system/*.reed"], "not a SMART scope"),
    (["--scope", "patient/*.read"], "only system/"),
    (["--scope", ""], "at least one scope"),
    (["--scope", "system/*.read", "--organization", "st-marys"], "Organization/"),
    ([], "--scope"),
])
def test_create_refuses_bad_input(hub, args, message):
    result = hub("clients", "create", "bad", *args)
    assert result.exit_code != 0
    assert message in result.output


@pytest.mark.parametrize("content, message", [
    ("not json", "not JSON"),
    (json.dumps({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}), "kid"),
    (json.dumps({"keys": [{"kid": "a"}]}), "kty"),
    (json.dumps({"keys": [{"kid": "a", "kty": "oct", "k": "c2VjcmV0"}]}), "private"),
    (json.dumps({"kid": "a", "kty": "RSA"}), "'keys'"),
])
def test_create_refuses_bad_jwks(hub, tmp_path, content, message):
    path = tmp_path / "jwks.json"
    path.write_text(content)
    result = hub("clients", "create", "bad", "--scope", "system/*.read", "--jwks", str(path))
    assert result.exit_code != 0
    assert message in result.output


def test_create_refuses_missing_jwks_file(hub, tmp_path):
    result = hub("clients", "create", "bad", "--scope", "system/*.read", "--jwks",
                 str(tmp_path / "missing.json"))
    assert result.exit_code != 0
    assert "cannot read" in result.output


def test_list_never_shows_secrets(hub, app):
    created = json.loads(hub("clients", "create", "one", "--scope", "system/*.read",
                             "--json").stdout)
    hub("clients", "create", "two", "--scope", "system/Task.rs", "--organization",
        "Organization/acme-home")
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        secret_hash = uow.clients.get(created["client_id"]).secret_hash
    text = hub("clients", "list")
    assert text.exit_code == 0
    assert created["client_id"] in text.output and "two" in text.output
    as_json = hub("clients", "list", "--json")
    rows = json.loads(as_json.stdout)
    assert [r["name"] for r in rows] == ["one", "two"]
    assert rows[1]["organization"] == "Organization/acme-home"
    for out in (text.output, as_json.output):
        assert created["client_secret"] not in out
        assert secret_hash not in out and "pbkdf2" not in out
    assert all("secret" not in key for row in rows for key in row)


def test_list_empty(hub):
    result = hub("clients", "list")
    assert (result.exit_code, result.output.strip()) == (0, "no clients")


def test_revoke(hub, client):
    created = json.loads(hub("clients", "create", "leaving", "--scope", "system/*.read",
                             "--json").stdout)
    token = get_token(client, created["client_id"], created["client_secret"]) \
        .get_json()["access_token"]
    result = hub("clients", "revoke", created["client_id"])
    assert result.exit_code == 0 and "revoked" in result.output
    assert get_token(client, created["client_id"], created["client_secret"]) \
        .status_code == 401
    with client.application.test_request_context(
            "/", headers={"Authorization": f"Bearer {token}"}):
        from hub.errors import Unauthorized
        from hub.routes.guards import authenticate

        with pytest.raises(Unauthorized, match="revoked"):
            authenticate()
    rows = json.loads(hub("clients", "list", "--json").stdout)
    assert rows[0]["revoked_at"] is not None
    assert "revoked" in hub("clients", "list").output
    # revoking again is harmless
    assert hub("clients", "revoke", created["client_id"]).exit_code == 0


def test_revoke_unknown_client(hub):
    result = hub("clients", "revoke", "no-such-client")
    assert result.exit_code != 0
    assert "no client" in result.output
