"""schemathesis against ``/openapi.json``: generated requests to every documented operation
of the running app (real database, real token) never get a server error."""

from __future__ import annotations

import pytest
import schemathesis
from case_data import river
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from hub.openapi import build_spec

SCOPES = "system/Case.cruds system/Delivery.cruds system/*.read"


# the document /openapi.json serves (test_served_document_is_the_one_tested checks it);
# loaded here because schemathesis's lazy fixture loader does not run on pytest 9
schema = schemathesis.openapi.from_dict(build_spec())


def test_served_document_is_the_one_tested(client):
    assert client.get("/openapi.json").get_json() == build_spec()


@pytest.fixture
def real_case(client, auth_headers) -> str:
    """A case the generated requests are aimed at (random ids only reach 404)."""
    resp = client.post("/api/cases", json=river(), headers=auth_headers(SCOPES))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, app, auth_headers, real_case):
    if case.path_parameters and "case_id" in case.path_parameters:
        case.path_parameters["case_id"] = real_case
    response = case.call(app=app, headers=auth_headers(SCOPES))
    case.validate_response(response, checks=[not_a_server_error])
