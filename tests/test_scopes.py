"""SMART scopes: v1/v2 parsing, narrowing a request to the client's allowance, and both
forms working end to end on a protected route."""

import pytest
from flask import Blueprint

from hub.routes.guards import require_scope
from hub.security import Scope, format_scope, grant_scopes, parse_scopes, validate_client_scope


@pytest.mark.parametrize("text, resource, perms", [
    ("system/Task.read", "Task", "rs"),
    ("system/*.write", "*", "cud"),
    ("system/*.*", "*", "cruds"),
    ("system/Task.rs", "Task", "rs"),
    ("system/*.cruds", "*", "cruds"),
    ("system/Case.u", "Case", "u"),
])
def test_v1_and_v2_scopes_reduce_to_interactions(text, resource, perms):
    scope = Scope.parse(text)
    assert (scope.context, scope.resource, scope.perms) == ("system", resource,
                                                            frozenset(perms))


@pytest.mark.parametrize("text", ["system/Task", "system/Task.sr", "system/Task.x",
                                  "Task.read", "system/Task.rs?status=ready", "openid"])
def test_malformed_scopes_are_refused(text):
    with pytest.raises(ValueError):
        Scope.parse(text)


def test_format_scope_writes_v2_in_canonical_order():
    assert format_scope(Scope("system", "Task", frozenset("sr"))) == "system/Task.rs"
    assert format_scope(Scope.parse("system/*.read")) == "system/*.rs"


@pytest.mark.parametrize("requested, allowed, granted", [
    # fully allowed: granted as written, in either form
    ("system/*.read", "system/*.read", "system/*.read"),
    ("system/Task.rs", "system/*.cruds", "system/Task.rs"),
    ("system/Task.read", "system/*.rs", "system/Task.read"),
    # narrowed to the allowed interactions
    ("system/*.cruds", "system/*.read", "system/*.rs"),
    ("system/Task.cruds", "system/*.read", "system/Task.rs"),
    # narrowed to the allowed resources
    ("system/*.read", "system/Task.rs system/Case.cruds", "system/Task.rs system/Case.rs"),
    # partly allowed request: the allowed part only
    ("system/Task.rs system/Claim.rs", "system/Task.cruds", "system/Task.rs"),
    # nothing allowed
    ("system/Claim.rs", "system/Task.cruds", ""),
    ("system/Task.c", "system/*.read", ""),
    ("patient/*.read", "system/*.read", ""),
])
def test_grant_scopes_narrows_to_the_allowance(requested, allowed, granted):
    assert grant_scopes(requested, allowed) == granted


def test_grant_scopes_refuses_malformed_request():
    with pytest.raises(ValueError, match="not a SMART scope"):
        grant_scopes("system/Task.rs launch", "system/*.cruds")


def test_client_scope_must_be_system_scopes():
    assert validate_client_scope("system/Case.cruds  system/*.read") == \
        "system/Case.cruds system/*.read"
    with pytest.raises(ValueError, match="only system/"):
        validate_client_scope("system/*.read patient/*.read")
    with pytest.raises(ValueError, match="at least one scope"):
        validate_client_scope("  ")
    with pytest.raises(ValueError, match="not a SMART scope"):
        validate_client_scope("system/*.reed")
    assert [s.resource for s in parse_scopes("system/Case.cruds system/*.read")] == \
        ["Case", "*"]


@pytest.fixture
def protected(app):
    """Task read and create routes guarded by ``require_scope``."""
    bp = Blueprint("scope_probe", __name__)

    @bp.get("/probe/task")
    @require_scope("Task", "r")
    def read_task():
        return {"ok": True}

    @bp.post("/probe/task")
    @require_scope("Task", "c")
    def create_task():
        return {"ok": True}, 201

    app.register_blueprint(bp)
    return app


@pytest.mark.parametrize("scope, can_read, can_create", [
    ("system/Task.read", True, False),
    ("system/*.write", False, True),
    ("system/Task.rs", True, False),
    ("system/Task.c", False, True),
    ("system/*.cruds", True, True),
    ("system/Case.cruds", False, False),
])
def test_v1_and_v2_tokens_on_a_protected_route(protected, client, auth_headers, scope,
                                               can_read, can_create):
    headers = auth_headers(scope)
    assert client.get("/probe/task", headers=headers).status_code == \
        (200 if can_read else 403)
    assert client.post("/probe/task", headers=headers).status_code == \
        (201 if can_create else 403)


@pytest.mark.parametrize("requested, allowed, granted", [
    ("system/*.read", "system/Case.cruds system/*.read", "system/*.read"),
    ("system/*.cruds", "system/Case.cruds system/*.read", "system/Case.cruds system/*.rs"),
    ("system/*.cruds", "system/Case.rs system/*.read", "system/*.rs"),
])
def test_grant_scopes_with_overlapping_allowances(requested, allowed, granted):
    assert grant_scopes(requested, allowed) == granted
