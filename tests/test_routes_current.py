"""hub.routes.current: the request, app and ``g`` behind Flask's proxies, read directly."""

from __future__ import annotations

import pytest
from flask import current_app, g, request

from hub.routes.current import header, this_app, this_g, this_request


def test_the_objects_are_those_behind_flasks_proxies(app):
    with app.test_request_context("/fhir/Patient/1?_format=json", headers={"Accept": "x"}):
        assert this_request() is request._get_current_object()  # type: ignore[attr-defined]
        assert this_request().path == "/fhir/Patient/1"
        assert this_app() is current_app._get_current_object()  # type: ignore[attr-defined]
        assert this_app() is app
        this_g().seen = 1
        assert g.seen == 1


def test_outside_a_request_they_fail_as_flasks_proxies_do():
    with pytest.raises(RuntimeError):
        this_request()
    with pytest.raises(RuntimeError):
        this_app()
    with pytest.raises(RuntimeError):
        this_g()


def test_a_header_is_what_werkzeugs_headers_get_answers(app):
    sent = {"Origin": "https://a.example", "If-None-Match": 'W/"3"', "X-Request-Id": "",
            "Content-Type": "application/json", "Content-Length": "2"}
    names = [*sent, "If-Match", "if-none-exist", "x-request-id", "content-type",
             "Content-Length", "Accept-Encoding", "Authorization", "Cookie"]
    with app.test_request_context("/api/cases/x", method="POST", headers=sent, data="{}"):
        req = this_request()
        assert [header(req, n) for n in names] == [req.headers.get(n) for n in names]
        assert header(req, "Origin") == "https://a.example" and header(req, "If-Match") is None
