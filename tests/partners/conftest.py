"""Fixtures of the agency-json tests: a loopback agency and a client with tiny timeouts."""

from __future__ import annotations

import pytest

from hub.adapters.agency_json import AgencyJsonClient
from hub.adapters.smart_auth import ApiKeyAuth

from .agency_json_server import AgencyJsonPartner, AgencyServer

API_KEY = "test-agency-key"
#: connect, read: small, so a held answer times out quickly
TIMEOUT = (0.5, 0.3)


@pytest.fixture
def agency():
    return AgencyJsonPartner(api_key=API_KEY)


@pytest.fixture
def agency_server(agency):
    with AgencyServer(agency) as server:
        yield server


@pytest.fixture
def client(agency_server):
    adapter = AgencyJsonClient("sunrise-home-health", agency_server.base_url,
                               auth=ApiKeyAuth("X-Api-Key", API_KEY), timeout=TIMEOUT)
    yield adapter
    adapter.close()
