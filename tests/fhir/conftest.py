"""Fixtures of the FHIR API tests.

``fhir`` wraps the test client: JSON in and out with the FHIR media type and a token, and
it records every resource the API returns. At the end of each test module all recorded
resources go through the independent validator (``fhir-check/validate.mjs``) in one call.
"""

from __future__ import annotations

import json

import fhir_validator
import pytest

FHIR_JSON = "application/fhir+json"


class FhirClient:
    """The Flask test client, speaking FHIR JSON with a bearer token."""

    def __init__(self, client, headers: dict, returned: list) -> None:
        self.client = client
        self.headers = headers
        self.returned = returned

    def request(self, method: str, url: str, body=None, headers=None, **kw):
        hdrs = {**self.headers, **(headers or {})}
        if body is not None and "data" not in kw:
            kw["data"] = json.dumps(body)
            hdrs.setdefault("Content-Type", FHIR_JSON)
        resp = self.client.open(url, method=method, headers=hdrs, **kw)
        if resp.data and resp.mimetype == FHIR_JSON:
            data = resp.get_json()
            if isinstance(data, dict) and "resourceType" in data:
                self.returned.append(data)
        return resp

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, body=None, **kw):
        return self.request("POST", url, body, **kw)

    def put(self, url, body=None, **kw):
        return self.request("PUT", url, body, **kw)

    def delete(self, url, **kw):
        return self.request("DELETE", url, **kw)

    def create(self, resource: dict, **kw) -> dict:
        resp = self.post(f"/fhir/{resource['resourceType']}", resource, **kw)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()


@pytest.fixture(scope="module")
def returned_resources():
    """Every resource the API returned in this module, validated (once each) at module end."""
    collected: list[dict] = []
    yield collected
    if collected:
        run_validator(list({json.dumps(r, sort_keys=True): r for r in collected}.values()))


@pytest.fixture
def world(fhir):
    """Two agencies, two insurers, their patients, referrals and requests (partner_world)."""
    from partner_world import build

    return build(fhir)


def run_validator(resources: list[dict]) -> None:
    fhir_validator.assert_valid(resources)


@pytest.fixture
def fhir(client, auth_headers, returned_resources) -> FhirClient:
    """A FHIR client with full system scopes and no organization (the hub's own)."""
    return FhirClient(client, auth_headers(), returned_resources)


@pytest.fixture
def fhir_as(client, auth_headers, returned_resources):
    """Factory: a FHIR client with the given scope and organization."""

    def make(scope: str = "system/*.cruds", organization: str | None = None) -> FhirClient:
        return FhirClient(client, auth_headers(scope, organization), returned_resources)

    return make
