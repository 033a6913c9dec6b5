"""POST /auth/token with client secrets, the access tokens it issues, revocation, the
shared token key, and SMART discovery."""

import base64
import time

import jwt
import pytest
from flask import Blueprint
from sqlalchemy import create_engine, select
from sqlalchemy import inspect as sa_inspect
from werkzeug.security import check_password_hash

from hub import create_app
from hub.config import Settings
from hub.routes.guards import current_principal, require_scope
from hub.store.client_tables import clients
from hub.store.uow import UnitOfWork

TOKEN_URL = "http://hub.test/auth/token"


@pytest.fixture
def protected(app):
    """``GET /probe/task`` needs ``Task`` read and answers who the caller is."""
    bp = Blueprint("token_probe", __name__)

    @bp.get("/probe/task")
    @require_scope("Task", "r")
    def read_task():
        p = current_principal()
        return {"client_id": p.client_id, "scope": p.scope, "organization": p.organization}

    app.register_blueprint(bp)
    return app


@pytest.fixture
def register(app):
    """Factory: register a secret client, returning (client_id, secret)."""

    def make(scope="system/*.cruds", organization=None, name="partner"):
        with UnitOfWork(app.extensions["hub.db"]) as uow:
            registered, secret = uow.clients.create(name, scope, organization=organization)
            uow.commit()
        return registered.client_id, secret

    return make


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(
        f"{client_id}:{secret}".encode()).decode()}


def token_request(client, data=None, headers=None):
    form = {"grant_type": "client_credentials"}
    form.update(data or {})
    return client.post("/auth/token", data={k: v for k, v in form.items() if v is not None},
                       headers=headers or {})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


# --- issuing tokens -----------------------------------------------------------------------

def test_client_secret_basic_gets_a_bearer_token(client, register):
    cid, secret = register("system/Task.rs system/Case.cruds")
    resp = token_request(client, {"scope": "system/Task.rs"}, basic(cid, secret))
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 300
    assert body["scope"] == "system/Task.rs"
    assert resp.headers["Cache-Control"] == "no-store"


def test_client_secret_post_gets_a_token(client, register):
    cid, secret = register()
    resp = token_request(client, {"client_id": cid, "client_secret": secret,
                                  "scope": "system/*.read"})
    assert resp.status_code == 200
    assert resp.get_json()["scope"] == "system/*.read"


def test_no_scope_requested_grants_the_clients_scope(client, register):
    cid, secret = register("system/Case.cruds system/*.read")
    resp = token_request(client, headers=basic(cid, secret))
    assert resp.get_json()["scope"] == "system/Case.cruds system/*.read"


def test_requested_scope_is_narrowed_to_the_allowed(client, register):
    cid, secret = register("system/Task.rs")
    resp = token_request(client, {"scope": "system/*.cruds system/Claim.c"},
                         basic(cid, secret))
    assert resp.status_code == 200
    assert resp.get_json()["scope"] == "system/Task.rs"


@pytest.mark.parametrize("scope", ["system/Claim.cruds", "system/Task.c", "user/*.read",
                                   "system/Task.rs launch"])
def test_scope_nothing_granted_or_malformed_is_invalid_scope(client, register, scope):
    cid, secret = register("system/Task.rs")
    resp = token_request(client, {"scope": scope}, basic(cid, secret))
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "invalid_scope"
    assert resp.headers["Cache-Control"] == "no-store"


def test_token_lifetime_never_exceeds_300_seconds(database_url):
    settings = Settings(database_url=database_url, secret_key="k" * 40,
                        base_url="http://hub.test", token_lifetime_seconds=3600)
    app = create_app(settings, migrate=False)
    try:
        with UnitOfWork(app.extensions["hub.db"]) as uow:
            registered, secret = uow.clients.create("long", "system/*.read")
            uow.commit()
        resp = token_request(app.test_client(), headers=basic(registered.client_id, secret))
        body = resp.get_json()
        assert body["expires_in"] == 300
        claims = jwt.decode(body["access_token"], "k" * 40, algorithms=["HS256"],
                            issuer="http://hub.test")
        assert claims["exp"] - claims["iat"] == 300
    finally:
        app.extensions["hub.db"].dispose()


# --- refused token requests ---------------------------------------------------------------

@pytest.mark.parametrize("make_headers", [
    lambda cid, secret: basic(cid, "wrong" + secret),
    lambda cid, secret: basic("no-such-client", secret),
    lambda cid, secret: {"Authorization": "Basic !!!not-base64"},
    lambda cid, secret: {"Authorization": f"Bearer {secret}"},
    lambda cid, secret: {},
])
def test_bad_client_credentials_are_invalid_client(client, register, make_headers):
    cid, secret = register()
    resp = token_request(client, headers=make_headers(cid, secret))
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "invalid_client"
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert resp.headers["Cache-Control"] == "no-store"
    assert "access_token" not in resp.get_json()


def test_wrong_client_secret_post_is_invalid_client(client, register):
    cid, secret = register()
    resp = token_request(client, {"client_id": cid, "client_secret": secret[:-1]})
    assert (resp.status_code, resp.get_json()["error"]) == (401, "invalid_client")


def test_grant_type_missing_or_unsupported(client, register):
    cid, secret = register()
    resp = token_request(client, {"grant_type": None}, basic(cid, secret))
    assert (resp.status_code, resp.get_json()["error"]) == (400, "invalid_request")
    resp = token_request(client, {"grant_type": "password"}, basic(cid, secret))
    assert (resp.status_code, resp.get_json()["error"]) == (400, "unsupported_grant_type")


def test_two_authentication_methods_are_refused(client, register):
    cid, secret = register()
    resp = token_request(client, {"client_id": cid, "client_secret": secret},
                         basic(cid, secret))
    assert (resp.status_code, resp.get_json()["error"]) == (400, "invalid_request")


def test_repeated_parameter_and_json_body_are_invalid_request(client, register):
    cid, secret = register()
    resp = client.post("/auth/token", headers=basic(cid, secret),
                       data="grant_type=client_credentials&scope=a&scope=b",
                       content_type="application/x-www-form-urlencoded")
    assert (resp.status_code, resp.get_json()["error"]) == (400, "invalid_request")
    resp = client.post("/auth/token", headers=basic(cid, secret),
                       json={"grant_type": "client_credentials"})
    assert (resp.status_code, resp.get_json()["error"]) == (400, "invalid_request")


def test_revoked_client_gets_no_token_and_its_tokens_stop_working(protected, client,
                                                                   register):
    cid, secret = register("system/Task.rs")
    token = token_request(client, headers=basic(cid, secret)).get_json()["access_token"]
    assert client.get("/probe/task", headers=bearer(token)).status_code == 200
    with UnitOfWork(protected.extensions["hub.db"]) as uow:
        assert uow.clients.revoke(cid).revoked_at is not None
        uow.commit()
    resp = token_request(client, headers=basic(cid, secret))
    assert (resp.status_code, resp.get_json()["error"]) == (401, "invalid_client")
    resp = client.get("/probe/task", headers=bearer(token))
    assert resp.status_code == 401
    assert "invalid_token" in resp.headers["WWW-Authenticate"]


def test_secret_is_stored_hashed_only(app, register, database_url):
    cid, secret = register()
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(clients).where(clients.c.client_id == cid)).one()
    finally:
        engine.dispose()
    assert secret not in str(tuple(row))
    assert row.secret_hash.startswith("pbkdf2:sha256:")
    assert check_password_hash(row.secret_hash, secret)
    assert row.jwks is None


# --- using access tokens ------------------------------------------------------------------

def test_token_from_endpoint_works_and_carries_the_organization(protected, client,
                                                                register):
    cid, secret = register("system/Task.rs", organization="Organization/st-marys")
    token = token_request(client, headers=basic(cid, secret)).get_json()["access_token"]
    resp = client.get("/probe/task", headers=bearer(token))
    assert resp.status_code == 200
    assert resp.get_json() == {"client_id": cid, "scope": "system/Task.rs",
                               "organization": "Organization/st-marys"}


def test_auth_headers_fixture_uses_a_real_client(protected, client, auth_headers):
    headers = auth_headers("system/Task.read", organization="Organization/acme-home")
    body = client.get("/probe/task", headers=headers).get_json()
    assert body["organization"] == "Organization/acme-home"
    with UnitOfWork(protected.extensions["hub.db"]) as uow:
        assert uow.clients.get(body["client_id"]).scope == "system/Task.read"


def test_no_token_is_401(protected, client):
    resp = client.get("/probe/task")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer not.a.jwt", "Bearer abc", "Bearer ", "Basic x",
                                    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln"])
def test_malformed_token_is_401(protected, client, header):
    assert client.get("/probe/task", headers={"Authorization": header}).status_code == 401


def test_wrong_scope_is_403(protected, client, auth_headers):
    resp = client.get("/probe/task", headers=auth_headers("system/Case.cruds"))
    assert resp.status_code == 403


def _claims(cid, **extra):
    now = int(time.time())
    claims = {"iss": "http://hub.test", "sub": cid, "scope": "system/*.cruds",
              "iat": now, "exp": now + 60, "jti": "t1"}
    claims.update(extra)
    return claims


def test_expired_token_is_401(protected, client, register, settings):
    cid, _ = register()
    now = int(time.time())
    token = jwt.encode(_claims(cid, iat=now - 400, exp=now - 100), settings.secret_key,
                       algorithm="HS256")
    resp = client.get("/probe/task", headers=bearer(token))
    assert resp.status_code == 401
    assert "expired" in resp.get_json()["message"]


@pytest.mark.parametrize("key, alg", [("another-secret-" + "y" * 32, "HS256"),
                                      (None, "none")])
def test_token_with_bad_signature_or_alg_none_is_401(protected, client, register, key, alg):
    cid, _ = register()
    token = jwt.encode(_claims(cid), key, algorithm=alg)
    assert client.get("/probe/task", headers=bearer(token)).status_code == 401


def test_tampered_token_is_401(protected, client, register):
    cid, secret = register("system/Task.rs")
    token = token_request(client, headers=basic(cid, secret)).get_json()["access_token"]
    head, payload, sig = token.split(".")
    forged = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b"Task.rs", b"*.cruds")).decode()
    assert client.get("/probe/task", headers=bearer(f"{head}.{forged}.{sig}")) \
        .status_code == 401


def test_token_of_unknown_client_is_401(protected, client, settings):
    token = jwt.encode(_claims("never-registered"), settings.secret_key, algorithm="HS256")
    assert client.get("/probe/task", headers=bearer(token)).status_code == 401


def test_token_of_another_issuer_is_401(protected, client, register, settings):
    cid, _ = register()
    token = jwt.encode(_claims(cid, iss="http://elsewhere"), settings.secret_key,
                       algorithm="HS256")
    assert client.get("/probe/task", headers=bearer(token)).status_code == 401


# --- the token keys: never in the database (hub.signing_keys; issue 9 item 9) ------------

def test_without_configured_keys_sqlite_apps_share_a_generated_0600_key_file(tmp_path):
    from hub.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)

    def make():
        return create_app(Settings(database_url=url, secret_key="",
                                   base_url="http://hub.test"), migrate=False)

    first, second = make(), make()
    try:
        key_file = tmp_path / "hub.db.signing-keys.json"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "hub.db").stat().st_mode & 0o777 == 0o600
        ring = first.extensions["hub.signing_keys"]
        assert ring.signer.alg == "ES256"
        assert second.extensions["hub.signing_keys"].signer.kid == ring.signer.kid
        with first.extensions["hub.db"].engine.connect() as conn:
            tables = set(sa_inspect(conn).get_table_names())
        assert "hub_key" not in tables
        with UnitOfWork(first.extensions["hub.db"]) as uow:
            registered, secret = uow.clients.create("shared", "system/*.read")
            uow.commit()
        token = token_request(first.test_client(), headers=basic(
            registered.client_id, secret)).get_json()["access_token"]
        assert jwt.get_unverified_header(token)["kid"] == ring.signer.kid
        jwks = second.test_client().get("/.well-known/jwks.json").get_json()
        public = jwt.PyJWK(jwks["keys"][0]).key
        jwt.decode(token, public, algorithms=["ES256"], issuer="http://hub.test")
    finally:
        first.extensions["hub.db"].dispose()
        second.extensions["hub.db"].dispose()


def test_postgresql_without_configured_keys_refuses_to_start():
    from hub.signing_keys import SigningKeyError

    with pytest.raises(SigningKeyError, match="HUB_SIGNING_KEY_FILE"):
        create_app(Settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
                            secret_key=""), migrate=False)


# --- discovery and schema -----------------------------------------------------------------

def test_smart_configuration_needs_no_auth(client):
    resp = client.get("/fhir/.well-known/smart-configuration")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["token_endpoint"] == TOKEN_URL
    assert body["grant_types_supported"] == ["client_credentials"]
    assert {"private_key_jwt", "client_secret_basic"} <= \
        set(body["token_endpoint_auth_methods_supported"])
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert "system/*.read" in body["scopes_supported"]
    assert "system/*.cruds" in body["scopes_supported"]
    assert body["capabilities"] == ["client-confidential-asymmetric",
                                    "client-confidential-symmetric"]


def test_migration_matches_the_table_definitions(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hub.store.tables import metadata

    mine = {"clients", "client_assertion_jtis", "hub_key"}  # hub_key: dropped in both

    def touches_mine(diff):
        if isinstance(diff, list):
            return any(touches_mine(d) for d in diff)
        for part in diff[1:]:
            table = getattr(part, "table", None)
            name = getattr(table, "name", None) or getattr(part, "name", None)
            if name in mine or (isinstance(part, str) and part in mine):
                return True
        return False

    with app.extensions["hub.db"].engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if touches_mine(d)] == []


def test_concurrent_first_use_agrees_on_one_key(tmp_path):
    """Workers starting together race to create the key file: all read the same key."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from hub.signing_keys import load_keyring

    barrier = Barrier(6)

    def start(_):
        barrier.wait()
        return load_keyring(sqlite=True, sqlite_path=tmp_path / "race.db").signer.kid

    with ThreadPoolExecutor(6) as pool:
        kids = set(pool.map(start, range(6)))
    assert len(kids) == 1


def test_concurrent_replays_of_one_jti_let_one_through(app, register):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    cid, _ = register()
    db, barrier, now = app.extensions["hub.db"], Barrier(6), int(time.time())

    def use(_):
        barrier.wait()
        with UnitOfWork(db) as uow:
            fresh = uow.clients.use_jti(cid, "same-jti", now + 60, now)
            uow.commit()
            return fresh

    with ThreadPoolExecutor(6) as pool:
        assert sorted(pool.map(use, range(6))) == [False] * 5 + [True]
