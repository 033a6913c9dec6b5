"""Issue 9 item 11: the hub calls only configured origins (no SSRF).

A hostile partner answers with a redirect to an internal service (another loopback
server standing for 169.254.169.254 or a database admin page): the hub does not follow it,
the internal service sees no request, and the failure is permanent (dead-letter, not
retried). Origins on HUB_OUTBOUND_ALLOWLIST are reachable; URLs a client could supply are
checked against the same list.
"""

from __future__ import annotations

import pytest
from loopback import LoopbackServer
from werkzeug.wrappers import Request, Response

from hub.adapters.outbound import OutboundPolicy, OutboundRefused, parse_allowlist
from hub.sync.partners import parse_partners
from hub.sync.registry import build_adapter


class Recorder:
    """A WSGI app that records what it is asked and answers ``answer(request)``."""

    def __init__(self, answer) -> None:
        self.seen: list[str] = []
        self.answer = answer

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.seen.append(f"{request.method} {request.full_path}")
        return self.answer(request)(environ, start_response)


@pytest.fixture
def internal():
    app = Recorder(lambda r: Response('{"resourceType":"Patient","id":"secret"}',
                                      mimetype="application/fhir+json"))
    server = LoopbackServer(app).start()
    yield app, server
    server.stop()


@pytest.fixture
def hostile(internal):
    _, target = internal

    def answer(request):
        return Response(status=302, headers={
            "Location": f"{target.base_url}/latest/meta-data{request.path}"})

    app = Recorder(answer)
    server = LoopbackServer(app).start()
    yield app, server
    server.stop()


def _partner(server, protocol="fhir", **extra):
    entry = {"id": "evil", "kind": "agency" if protocol == "agency-json" else "hospital",
             "protocol": protocol, "base_url": server.base_url + "/fhir"}
    entry.update(extra)
    return parse_partners({"partners": [entry]})["evil"]


def test_a_partner_redirect_to_an_internal_service_is_not_followed(hostile, internal):
    hostile_app, hostile_server = hostile
    internal_app, _ = internal
    client = build_adapter(_partner(hostile_server), environ={})
    with pytest.raises(OutboundRefused) as caught:
        client.read("Patient", "p1")
    assert caught.value.retryable is False
    assert hostile_app.seen == ["GET /fhir/Patient/p1?"]
    assert internal_app.seen == []


def test_the_agency_json_adapter_is_guarded_too(hostile, internal):
    hostile_app, hostile_server = hostile
    internal_app, _ = internal
    partner = _partner(hostile_server, protocol="agency-json", poll_seconds=900,
                       auth={"type": "api-key", "header": "X-Api-Key", "key_env": "EVIL_KEY"})
    client = build_adapter(partner, environ={"EVIL_KEY": "k"})
    with pytest.raises(OutboundRefused):
        client.send_referral({"id": "r1"})
    assert len(hostile_app.seen) == 1 and internal_app.seen == []


def test_an_allowlisted_origin_is_reachable(hostile, internal):
    _, hostile_server = hostile
    internal_app, internal_server = internal
    client = build_adapter(_partner(hostile_server), environ={
        "HUB_OUTBOUND_ALLOWLIST": f"https://elsewhere.example {internal_server.base_url}"})
    assert client.read("Patient", "p1").resource["id"] == "secret"
    assert internal_app.seen == ["GET /latest/meta-data/fhir/Patient/p1?"]


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:5432/",
    "http://localhost/admin", "file:///etc/passwd", "gopher://partner.example/",
    "https://partner.example.evil.example/hook", "https://user@partner.example/hook",
    "http://partner.example/hook",  # same host, other scheme: another origin
    "https://partner.example:8443/hook", "https://[::1]/", "not a url"])
def test_urls_a_client_could_supply_are_refused_unless_allowlisted(url):
    policy = OutboundPolicy.of(["https://partner.example/fhir"], "hooks.example.org")
    assert not policy.allows(url)
    with pytest.raises(OutboundRefused):
        policy.check(url)


def test_allowlisted_urls_pass_and_bad_entries_are_refused():
    policy = OutboundPolicy.of([None, "https://partner.example/fhir"],
                               "hooks.example.org, http://10.1.2.3:8080")
    for url in ("https://partner.example/fhir/Task?x=1", "https://PARTNER.example:443/a",
                "https://hooks.example.org/notify", "http://10.1.2.3:8080/cb"):
        assert policy.allows(url), url
    for bad in ("ftp://x.example", "https://x.example/path", "https://"):
        with pytest.raises(ValueError):
            parse_allowlist(bad)
