"""Issue 9 item 2 (and the admin part of item 3): the case and admin APIs span every
partner, so a client bound to a partner Organization is refused there whatever its
scopes, ``hub clients create --organization`` refuses scopes that would reach them, and
no wildcard reaches the outbox."""

from __future__ import annotations

import base64

import pytest
from case_data import minimal
from click.testing import CliRunner
from sqlalchemy import func, select

from hub.cli import main
from hub.store.case_tables import cases
from hub.store.uow import UnitOfWork

AGENCY = "Organization/agency-b"


def _cases(app) -> int:
    with app.extensions["hub.db"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(cases)).scalar_one()


def test_a_bound_client_with_every_scope_cannot_use_the_case_api(app, client, auth_headers):
    staff = auth_headers("system/Case.cruds")
    created = client.post("/api/cases", json=minimal(), headers=staff)
    case_id, etag = created.get_json()["id"], created.headers["ETag"]
    agency = auth_headers("system/*.cruds system/Case.cruds", organization=AGENCY)
    attempts = [
        client.get("/api/cases", headers=agency),
        client.get(f"/api/cases/{case_id}", headers=agency),
        client.post("/api/cases", json=minimal(), headers=agency),
        client.post(f"/api/cases/{case_id}/notes", json={"text": "planted"},
                    headers={**agency, "If-Match": etag}),
        client.put(f"/api/cases/{case_id}", json=minimal(),
                   headers={**agency, "If-Match": etag}),
        client.get(f"/api/cases/{case_id}/coverage-requests", headers=agency),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert "organization" in attempts[0].get_json()["message"]
    assert _cases(app) == 1
    assert client.get(f"/api/cases/{case_id}", headers=staff).get_json()["notes"] == []
    # without a token it stays 401
    assert client.get("/api/cases").status_code == 401


def test_a_bound_client_cannot_use_the_admin_api(client, auth_headers):
    agency = auth_headers("system/Delivery.rs system/Delivery.u", organization=AGENCY)
    assert client.get("/admin/deliveries?include=payload", headers=agency).status_code == 403
    assert client.post("/admin/deliveries/retry?all_dead=true",
                       headers=agency).status_code == 403


def test_no_wildcard_reaches_the_outbox(app, client, auth_headers):
    for scope in ("system/*.read", "system/*.cruds", "system/*.*", "system/*.rs"):
        hdr = auth_headers(scope)
        resp = client.get("/admin/deliveries?include=payload", headers=hdr)
        assert resp.status_code == 403, scope
        assert client.get("/admin/deliveries/1", headers=hdr).status_code == 403
    assert client.get("/admin/deliveries", headers=auth_headers(
        "system/Delivery.rs")).status_code == 200
    # asking the token endpoint for Delivery with only a wildcard allowance gets nothing
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        registered, secret = uow.clients.create("reader", "system/*.read")
        uow.commit()
    basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    resp = client.post("/auth/token", data={"grant_type": "client_credentials",
                                            "scope": "system/Delivery.rs"},
                       headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_scope"


@pytest.mark.parametrize("scope", ["system/*.cruds", "system/*.read", "system/Case.rs",
                                   "system/Task.rs system/Case.cruds", "system/Delivery.rs",
                                   "system/*.rs"])
def test_clients_create_refuses_wide_scopes_for_bound_clients(app, database_url, scope):
    result = CliRunner().invoke(main, ["--database-url", database_url, "clients", "create",
                                       "agency b", "--scope", scope,
                                       "--organization", AGENCY])
    assert result.exit_code != 0
    assert "bound to an organization" in result.output
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        assert uow.clients.list() == []


def test_clients_create_accepts_named_types_for_bound_clients(app, database_url):
    result = CliRunner().invoke(main, ["--database-url", database_url, "clients", "create",
                                       "agency b", "--scope",
                                       "system/Task.cruds system/ServiceRequest.rs",
                                       "--organization", AGENCY])
    assert result.exit_code == 0, result.output
    # unbound clients may still hold wildcards and the case scope
    result = CliRunner().invoke(main, ["--database-url", database_url, "clients", "create",
                                       "case manager", "--scope", "system/*.cruds"])
    assert result.exit_code == 0, result.output
