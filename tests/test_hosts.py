"""The hub's root URL as a request sees it (hub.routes.hosts): what ``request.host_url``
says, worked out once per scheme and host; ``HUB_BASE_URL`` wins."""

from __future__ import annotations

import dataclasses

import pytest
from flask import request

from hub.routes import hosts

HOSTS = ["localhost", "127.0.0.1:8080", "hub.example.org", "xn--bcher-kva.example",
         "xn--bcher-kva.example:8443", "[::1]:5000", "h%C3%BCb.example"]


@pytest.fixture
def unset(app):
    """The app without ``HUB_BASE_URL`` (the tests' settings set one)."""
    settings = app.extensions["hub.settings"]
    app.extensions["hub.settings"] = dataclasses.replace(settings, base_url="")
    yield app
    app.extensions["hub.settings"] = settings


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("host", HOSTS)
def test_the_root_is_what_werkzeug_makes_of_the_scheme_and_host(unset, scheme, host):
    for _ in range(2):  # worked out, then kept
        with unset.test_request_context("/fhir/Patient/1", base_url=f"{scheme}://{host}"):
            assert hosts.server_root() == request.host_url.rstrip("/")


def test_each_scheme_and_host_has_its_own_root(unset):
    seen = {}
    for host in ("a.example", "b.example"):
        with unset.test_request_context("/", base_url=f"https://{host}"):
            seen[host] = hosts.server_root()
    assert seen == {"a.example": "https://a.example", "b.example": "https://b.example"}


def test_the_configured_base_url_wins(app):
    with app.test_request_context("/", base_url="http://other.example"):
        assert hosts.server_root() == "http://hub.test"
