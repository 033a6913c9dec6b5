"""The console with Flask's test client: sign-in, sessions, CSRF and role refusals, and
that the pages' actions change the case through the services."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from hub import cli
from hub.store.uow import UnitOfWork
from hub.store.user_repo import UserRepository
from hub.sync import outbox
from hub.users import may
from tests.console_data import PASSWORD, active_case, add_user, dead_delivery, planning_case


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client, name: str, password: str = PASSWORD):
    page = client.get("/signin")
    return client.post("/signin", data={"name": name, "password": password,
                                        "csrf_token": _csrf(page.get_data(as_text=True))})


@pytest.fixture
def db(app):
    return app.extensions["hub.db"]


def test_sign_in_sets_a_hardened_session_cookie_and_lands_on_the_worklist(app, client, db):
    add_user(db, "cara", "case-manager")
    resp = sign_in(client, "cara")
    assert resp.status_code == 302 and resp.headers["Location"] == "/cases"
    cookie = resp.headers["Set-Cookie"]
    assert "hub_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over http in this test
    assert client.get("/cases").status_code == 200


def test_session_cookie_is_secure_when_the_hub_is_served_over_tls(settings, db):
    from hub import create_app

    settings.base_url = "https://hub.example"
    app = create_app(settings, migrate=False)
    add_user(app.extensions["hub.db"], "cara", "case-manager")
    resp = sign_in(app.test_client(), "cara")
    assert resp.status_code == 302 and "Secure" in resp.headers["Set-Cookie"]
    app.extensions["hub.db"].dispose()


def test_wrong_password_unknown_and_disabled_users_are_refused(client, db):
    add_user(db, "cara", "case-manager")
    assert sign_in(client, "cara", "wrong password!!").status_code == 401
    assert sign_in(client, "nobody").status_code == 401
    with db.sessions() as session:
        UserRepository(session).disable("cara")
        session.commit()
    assert sign_in(client, "cara").status_code == 401


def test_a_disabled_user_loses_the_open_session(client, db):
    add_user(db, "cara", "case-manager")
    assert sign_in(client, "cara").status_code == 302
    with db.sessions() as session:
        UserRepository(session).disable("cara")
        session.commit()
    resp = client.get("/cases")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/signin")


def test_pages_need_a_signed_in_user(client):
    for path in ("/cases", "/cases/case-river", "/caseload", "/operations"):
        resp = client.get(path)
        assert resp.status_code == 302, path
        assert resp.headers["Location"].startswith("/signin?next="), path


def test_sign_in_is_throttled_after_repeated_failures(client, db):
    add_user(db, "cara", "case-manager")
    for _ in range(5):
        assert sign_in(client, "cara", "not the password").status_code == 401
    resp = sign_in(client, "cara")  # the right password, but too soon
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in resp.get_data(as_text=True)


def test_sign_in_failures_are_limited_per_address_too(settings):
    from hub import create_app

    settings.sign_in_failures_per_address = "3 per 5 minutes"
    app = create_app(settings, migrate=False)
    client = app.test_client()
    for name in ("a", "b", "c"):
        assert sign_in(client, name, "not the password").status_code == 401
    resp = sign_in(client, "d", "not the password")
    assert resp.status_code == 429 and resp.headers.get("Retry-After")
    app.extensions["hub.db"].dispose()


def test_a_form_without_a_valid_csrf_token_is_refused_and_changes_nothing(client, db):
    add_user(db, "cara", "case-manager")
    case = active_case(db)
    sign_in(client, "cara")
    for token in (None, "forged"):
        data = {"text": "no token", "version": str(case.version)}
        if token:
            data["csrf_token"] = token
        resp = client.post(f"/cases/{case.id}/notes", data=data)
        assert resp.status_code == 400
        assert "expired or did not come from this site" in resp.get_data(as_text=True)
    with UnitOfWork(db) as uow:
        assert [n.text for n in uow.cases.get(case.id).notes] == \
            [n.text for n in case.notes]


def test_sign_in_itself_needs_the_csrf_token(client, db):
    add_user(db, "cara", "case-manager")
    resp = client.post("/signin", data={"name": "cara", "password": PASSWORD})
    assert resp.status_code == 400


def test_roles_are_checked_per_page_and_action(client, db):
    add_user(db, "olly", "operator")
    add_user(db, "cara", "case-manager")
    case = active_case(db)
    row_id = dead_delivery(db)
    sign_in(client, "olly")
    assert client.get("/cases").status_code == 403
    assert client.get(f"/cases/{case.id}").status_code == 403
    assert client.get("/caseload").status_code == 403
    page = client.get("/operations")
    assert page.status_code == 200
    token = _csrf(page.get_data(as_text=True))
    resp = client.post(f"/cases/{case.id}/notes",
                       data={"text": "x", "version": str(case.version), "csrf_token": token})
    assert resp.status_code == 403
    client.post("/signout", data={"csrf_token": token})
    sign_in(client, "cara")
    page = client.get("/cases")
    assert page.status_code == 200
    assert client.get("/operations").status_code == 403
    resp = client.post(f"/operations/deliveries/{row_id}/replay",
                       data={"csrf_token": _csrf(page.get_data(as_text=True))})
    assert resp.status_code == 403
    with db.sessions() as session:
        assert outbox.get_delivery(session, row_id).status == "dead"


def test_operations_lists_the_audit_trail_of_fhir_reads(client, db, auth_headers):
    add_user(db, "olly", "operator")
    active_case(db)
    headers = auth_headers("system/*.rs")
    assert client.get("/fhir/Patient", headers=headers).status_code == 200
    sign_in(client, "olly")
    html = client.get("/operations").get_data(as_text=True)
    trail = html[html.index("Audit trail"):]
    assert "search-type" in trail and "client " in trail and "ok" in trail


def test_role_permissions():
    assert may("case-manager", "cases.write") and not may("case-manager", "operations.read")
    assert may("supervisor", "supervision") and may("supervisor", "cases.read")
    assert may("operator", "operations.replay") and not may("operator", "cases.read")
    assert all(may("admin", p) for p in ("cases.write", "supervision", "operations.replay"))
    assert not may("admin", "no.such.permission") and not may(None, "cases.read")


def test_worklist_filters_and_puts_overdue_reviews_first(client, db):
    add_user(db, "cara", "case-manager")
    active_case(db)
    planning_case(db)
    sign_in(client, "cara")
    html = client.get("/cases").get_data(as_text=True)
    assert html.index("Sam River") < html.index("Alex Stone")  # due 2024 first
    assert "overdue" in html
    html = client.get("/cases?q=MRN-550001").get_data(as_text=True)
    assert "Alex Stone" in html and "Sam River" not in html
    html = client.get("/cases?q=river").get_data(as_text=True)
    assert "Sam River" in html and "Alex Stone" not in html
    html = client.get("/cases?status=planning").get_data(as_text=True)
    assert "Alex Stone" in html and "Sam River" not in html
    html = client.get("/cases?case_manager=pat+doe").get_data(as_text=True)
    assert "Alex Stone" in html and "Sam River" not in html


def test_worklist_pages_in_due_order(client, db, monkeypatch):
    from hub.routes import console_cases

    monkeypatch.setattr(console_cases, "PAGE_SIZE", 1)
    add_user(db, "cara", "case-manager")
    active_case(db)
    planning_case(db)
    sign_in(client, "cara")
    first = client.get("/cases").get_data(as_text=True)
    assert "Sam River" in first and "Alex Stone" not in first and ">Next</a>" in first
    second = client.get("/cases?offset=1").get_data(as_text=True)
    assert "Alex Stone" in second and "Sam River" not in second
    assert ">Previous</a>" in second and ">Next</a>" not in second


def test_case_actions_go_through_the_services(client, db):
    add_user(db, "cara", "case-manager")
    case = planning_case(db)
    sign_in(client, "cara")
    token = _csrf(client.get(f"/cases/{case.id}").get_data(as_text=True))
    resp = client.post(f"/cases/{case.id}/plan/approval",
                       data={"physician": "Dr Robin Vale", "version": str(case.version),
                             "csrf_token": token})
    assert resp.status_code == 302
    # a stale version is refused, nothing is written
    resp = client.post(f"/cases/{case.id}/notes", data={"text": "late", "version": str(case.version),
                                                         "csrf_token": token},
                       follow_redirects=True)
    assert "Not saved" in resp.get_data(as_text=True)
    resp = client.post(f"/cases/{case.id}/notes", data={"text": "Called the family.",
                                                        "version": str(case.version + 1),
                                                        "csrf_token": token})
    with UnitOfWork(db) as uow:
        stored = uow.cases.get(case.id)
    assert stored.version == case.version + 2 and stored.plan.approved_by.name == "Dr Robin Vale"
    assert [(n.text, n.author) for n in stored.notes] == [("Called the family.", "user:cara")]


def test_users_cli_creates_lists_and_disables(settings, db, monkeypatch):
    runner = CliRunner()
    env = {"HUB_DATABASE_URL": settings.database_url}
    result = runner.invoke(cli.main, ["users", "create", "sue", "--role", "supervisor",
                                      "--password-stdin"], input=PASSWORD + "\n", env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.main, ["users", "create", "sue2", "--role", "supervisor",
                                      "--password-stdin"], input="short\n", env=env)
    assert result.exit_code == 2 and "at least 12 characters" in result.output
    result = runner.invoke(cli.main, ["users", "create", "x", "--role", "king",
                                      "--password-stdin"], input=PASSWORD + "\n", env=env)
    assert result.exit_code == 2
    result = runner.invoke(cli.main, ["users", "list"], env=env)
    assert "sue  supervisor  [local, active]" in result.output
    assert runner.invoke(cli.main, ["users", "disable", "sue"], env=env).exit_code == 0
    assert "disabled" in runner.invoke(cli.main, ["users", "list"], env=env).output
    assert runner.invoke(cli.main, ["users", "disable", "nobody"], env=env).exit_code == 1
    with db.sessions() as session:
        stored = session.execute(
            __import__("sqlalchemy").text("select password_hash from users")).scalar_one()
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_a_request_without_cookies_opens_an_empty_session_without_parsing_them(app):
    """An API request (no Cookie header) gets an empty session and leaves the request's
    cookies unparsed; one with a Cookie header but no session cookie gets an empty one."""
    interface = app.session_interface
    with app.test_request_context("/api/cases/x") as ctx:
        opened = interface.open_session(app, ctx.request)
        assert dict(opened) == {} and not opened.modified
        assert "cookies" not in ctx.request.__dict__  # werkzeug's cached property unread
    with app.test_request_context("/console/", headers={"Cookie": "other=1"}) as ctx:
        assert dict(interface.open_session(app, ctx.request)) == {}
        assert ctx.request.cookies.to_dict() == {"other": "1"}
