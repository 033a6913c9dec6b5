"""Issue 9.6 for authentication, as an auditor reads it: every way in leaves an AuditEvent
in DICOM "User Authentication" shapes (type DCM 110114; subtype 110122 Login, 110123
Logout; outcome 4 when refused): token requests (issued; bad secret, bad assertion),
requests whose bearer token is refused (garbage, forged, expired, revoked client) at
``/fhir``, ``/api`` and ``/admin``, console sign-ins (signed in, wrong password) and
sign-outs. The agent is the claimed client id or user name with the source address; no
secret, password, assertion or token is ever in the log. Refused attempts are recorded one
by one within budgets per address and in all; past them they are counted, and the next
event recorded from that address says how many were not.
"""

from __future__ import annotations

import json
import re
import time

import jwt
import pytest
from test_credentials import ATTACKER, OFFICE, _register, _token
from test_ratelimit_redis import REDIS_URL, prefix

from hub.store.uow import UnitOfWork
from tests.console_data import PASSWORD, add_user

__all__ = ["prefix"]  # the Redis key prefix fixture of the rate-limit tests
AUDITOR = "system/AuditEvent.rs"
DCM = "http://dicom.nema.org/resources/ontology/DCM"


def _authn(client, auth_headers) -> list[dict]:
    """The authentication events, oldest first (the auditor's own token request is one)."""
    resp = client.get("/fhir/AuditEvent?_count=200", headers=auth_headers(AUDITOR))
    assert resp.status_code == 200, resp.get_json()
    events = [e["resource"] for e in resp.get_json().get("entry", [])
              if e["resource"]["type"]["code"] == "110114"]
    return sorted(events, key=lambda e: e["recorded"])


def _claimed(event) -> dict:
    return event["agent"][0]["who"]


def _summary(event) -> tuple:
    who = _claimed(event)
    name = (who.get("identifier") or {}).get("value") or who.get("display")
    return (event["subtype"][0]["code"], event["outcome"], name,
            event["agent"][0].get("network", {}).get("address"))


def test_token_requests_are_authentication_events(app, client, auth_headers):
    cid, secret = _register(app)
    assert _token(client, cid, "guess-1234", ATTACKER).status_code == 401
    assertion = jwt.encode({"iss": cid, "sub": cid, "aud": "x", "exp": 1}, "not-the-key-" + "k" * 32,
                           algorithm="HS256")
    bad = client.post("/auth/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
        environ_base={"REMOTE_ADDR": ATTACKER})
    assert bad.status_code == 401
    good = _token(client, cid, secret, OFFICE)
    assert good.status_code == 200
    events = [e for e in _authn(client, auth_headers) if _claimed(e).get(
        "identifier", {}).get("value") == cid]
    assert [_summary(e) for e in events] == [
        ("110122", "4", cid, ATTACKER), ("110122", "4", cid, ATTACKER),
        ("110122", "0", cid, OFFICE)]
    for event in events:
        assert event["type"] == {"system": DCM, "code": "110114",
                                 "display": "User Authentication"}
        assert event["subtype"][0]["system"] == DCM and event["action"] == "E"
    assert [e.get("outcomeDesc") for e in events] == ["401 refused", "401 refused", None]
    text = json.dumps(events)
    assert "guess-1234" not in text and secret not in text and assertion not in text
    assert good.get_json()["access_token"] not in text


def test_refused_tokens_at_fhir_api_and_admin_are_authentication_events(
        app, client, settings, auth_headers):
    cid, secret = _register(app)
    token = _token(client, cid, secret, OFFICE).get_json()["access_token"]
    now = int(time.time())
    expired = jwt.encode({"iss": "http://hub.test", "sub": cid, "scope": "system/*.cruds",
                          "iat": now - 600, "exp": now - 300, "jti": "old"},
                         settings.secret_key, algorithm="HS256", headers={"kid": "hub-secret"})
    forged = jwt.encode({"iss": "http://hub.test", "sub": "someone-else", "exp": now + 60},
                        "not-the-key-" + "k" * 32, algorithm="HS256")
    probes = [("/fhir/Patient", "garbage.token.here"), ("/api/cases", expired),
              ("/admin/deliveries", forged)]
    for path, bearer in probes:
        resp = client.get(path, headers={"Authorization": f"Bearer {bearer}"},
                          environ_base={"REMOTE_ADDR": ATTACKER})
        assert resp.status_code == 401, path
    assert client.get("/fhir/Patient", environ_base={"REMOTE_ADDR": ATTACKER}).status_code \
        == 401  # no token at all
    with UnitOfWork(app.extensions["hub.db"]) as uow:
        uow.clients.revoke(cid)
        uow.commit()
    revoked = client.get("/api/cases", headers={"Authorization": f"Bearer {token}"},
                         environ_base={"REMOTE_ADDR": ATTACKER})
    assert revoked.status_code == 401
    refused = [e for e in _authn(client, auth_headers) if e["outcome"] == "4"]
    assert [_summary(e) for e in refused] == [
        ("110122", "4", "unidentified client", ATTACKER), ("110122", "4", cid, ATTACKER),
        ("110122", "4", "someone-else", ATTACKER),
        ("110122", "4", "unidentified client", ATTACKER), ("110122", "4", cid, ATTACKER)]
    text = json.dumps(refused)
    assert token not in text and expired not in text and forged not in text
    # found by the claimed client id
    resp = client.get(f"/fhir/AuditEvent?agent={cid}", headers=auth_headers(AUDITOR))
    assert len([e for e in resp.get_json()["entry"]
                if e["resource"]["type"]["code"] == "110114"]) == 3  # 2 refused + issued


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_console_sign_in_failed_sign_in_and_sign_out_are_authentication_events(
        app, client, auth_headers):
    add_user(app.extensions["hub.db"], "cara", "case-manager")
    console = app.test_client()
    page = console.get("/signin").get_data(as_text=True)
    wrong = console.post("/signin", data={"name": "cara", "password": "hunter2-wrong",
                                          "csrf_token": _csrf(page)},
                         environ_base={"REMOTE_ADDR": ATTACKER})
    assert wrong.status_code == 401
    good = console.post("/signin", data={"name": "cara", "password": PASSWORD,
                                         "csrf_token": _csrf(page)},
                        environ_base={"REMOTE_ADDR": OFFICE})
    assert good.status_code == 302
    home = console.get("/cases").get_data(as_text=True)
    out = console.post("/signout", data={"csrf_token": _csrf(home)},
                       environ_base={"REMOTE_ADDR": OFFICE})
    assert out.status_code == 302
    events = [e for e in _authn(client, auth_headers) if _claimed(e).get("display") == "cara"]
    assert [_summary(e) for e in events] == [
        ("110122", "4", "cara", ATTACKER), ("110122", "0", "cara", OFFICE),
        ("110123", "0", "cara", OFFICE)]
    assert events[2]["subtype"][0] == {"system": DCM, "code": "110123", "display": "Logout"}
    assert _claimed(events[0])["identifier"]["system"].endswith("/console-user")
    text = json.dumps(events)
    assert "hunter2" not in text and PASSWORD not in text


@pytest.fixture
def budgeted(make_app):
    return make_app(audit_auth_failures_per_address="3 per minute",
                    audit_auth_failures_total="5 per minute")


def _probe(client, addr):
    return client.get("/fhir/Patient", headers={"Authorization": "Bearer x.y.z"},
                      environ_base={"REMOTE_ADDR": addr}).status_code


def test_a_flood_of_refused_attempts_is_recorded_within_budgets_and_counted(
        budgeted, auth_headers):
    client = budgeted.test_client()
    assert {_probe(client, ATTACKER) for _ in range(40)} == {401}
    refused = [e for e in _authn(client, auth_headers) if e["outcome"] == "4"]
    assert len(refused) == 3  # the budget of one address, not 40 rows
    # other addresses share the total budget (5): 2 more are recorded, then none
    assert {_probe(client, f"198.51.100.{i}") for i in range(10, 20)} == {401}
    assert len([e for e in _authn(client, auth_headers) if e["outcome"] == "4"]) == 5
    # when the windows have room again (cleared here: no waiting in tests), the next
    # failure recorded from the attacker's address says how many were not
    budget = budgeted.extensions["hub.authn_budget"]
    budget.strategy.clear(budget.per_address, budget.prefix, "authn", ATTACKER)
    budget.strategy.clear(budget.total, budget.prefix, "authn", "all")
    assert _probe(client, ATTACKER) == 401
    latest = [e for e in _authn(client, auth_headers) if e["outcome"] == "4"][-1]
    assert latest["outcomeDesc"] == ("401 refused; 37 earlier failures from this address "
                                     "were not recorded one by one")
    # successes are never budgeted: the auditor's own token requests above were recorded
    assert any(e["outcome"] == "0" for e in _authn(client, auth_headers))


def test_the_budgets_are_shared_through_redis_by_every_process(make_app, prefix,
                                                               auth_headers, client):
    # two hub processes counting in one Redis (HUB_RATELIMIT_STORAGE_URL): 4 failures from
    # one address spread over both are recorded 3 times, as by one process
    one, two = (make_app(ratelimit_storage_url=REDIS_URL, ratelimit_key_prefix=prefix,
                         audit_auth_failures_per_address="3 per minute")
                for _ in range(2))
    statuses = [_probe((one if i % 2 else two).test_client(), ATTACKER) for i in range(4)]
    assert statuses == [401] * 4
    assert len([e for e in _authn(client, auth_headers) if e["outcome"] == "4"]) == 3
