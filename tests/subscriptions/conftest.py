"""Fixtures of the Subscription tests: a subscriber listening on loopback (a real HTTP
server) and a hub whose ``HUB_SUBSCRIPTION_ENDPOINTS`` allows it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import pytest
from loopback import LoopbackServer
from outbox_query import outbox_rows

from hub.sync.retry import RetryPolicy

FHIR_JSON = "application/fhir+json"
FAST = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    status: int = 200  # what the subscriber answered

    @property
    def json(self):
        return json.loads(self.body) if self.body else None


@dataclass
class Subscriber:
    """A WSGI app recording what it receives; answers ``status`` (200 by default)."""

    status: int = 200
    fail_next: int = 0  # answer 503 to this many requests first
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        with self.lock:
            status = self.status
            if self.fail_next:
                self.fail_next -= 1
                status = 503
            self.received.append(Received(environ["REQUEST_METHOD"], environ["PATH_INFO"],
                                          headers, body, status))
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [b""]

    def bundles(self, type_: str | None = None) -> list[dict]:
        """The notification Bundles accepted (answered 2xx), of one notification ``type``."""
        out = []
        for r in self.received:
            body = r.json if r.status < 300 else None
            if not body or body.get("resourceType") != "Bundle":
                continue
            params = {p["name"]: p for p in body["entry"][0]["resource"]["parameter"]}
            if type_ is None or params["type"]["valueCode"] == type_:
                out.append(body)
        return out


@pytest.fixture
def subscriber():
    app = Subscriber()
    server = LoopbackServer(app).start()
    app.url = server.base_url
    yield app, server
    server.stop()


class Hub:
    """The hub app (allowing the subscriber's ``/hooks`` prefix), its worker and outbox."""

    def __init__(self, app, auth_headers, server) -> None:
        self.app = app
        self.client = app.test_client()
        self.db = app.extensions["hub.db"]
        self.runtime = app.extensions["hub.runtime"]
        self.worker = self.runtime.worker("subs-test", policy=FAST, concurrency=1,
                                          lease_seconds=30)
        self.auth_headers = auth_headers
        self.hooks = server.base_url + "/hooks"

    def headers(self, scope: str = "system/*.cruds", organization: str | None = None) -> dict:
        return {**self.auth_headers(scope, organization), "Content-Type": FHIR_JSON}

    def post(self, path: str, body: dict, headers: dict | None = None):
        return self.client.post(path, data=json.dumps(body), headers=headers or self.headers())

    def put(self, path: str, body: dict, headers: dict | None = None):
        return self.client.put(path, data=json.dumps(body), headers=headers or self.headers())

    def get(self, path: str, headers: dict | None = None):
        return self.client.get(path, headers=headers or self.headers())

    def rows(self, **where) -> list:
        return outbox_rows(self.db, **where)

    def drain(self, limit: int = 200) -> list:
        """Run the worker until nothing is due (dead rows stay); the notify rows."""
        for _ in range(limit):
            if not self.worker.run_once():
                break
        return self.rows(operation="notify")


@pytest.fixture
def hub(make_app, auth_headers, subscriber):
    _, server = subscriber
    app = make_app(subscription_endpoints=server.base_url + "/hooks")
    # the auth_headers fixture registers clients through the default app: same database
    made = Hub(app, auth_headers, server)
    yield made
    made.worker.close()


def criteria_subscription(endpoint: str, criteria: str, *, payload: str | None = None,
                          headers: list[str] | None = None) -> dict:
    channel: dict = {"type": "rest-hook", "endpoint": endpoint}
    if payload:
        channel["payload"] = payload
    if headers:
        channel["header"] = headers
    return {"resourceType": "Subscription", "status": "requested", "reason": "test",
            "criteria": criteria, "channel": channel}


def topic_subscription(endpoint: str, topic: str, *, content: str = "id-only",
                       filters: list[str] | None = None, heartbeat: int | None = None,
                       headers: list[str] | None = None) -> dict:
    from hub.subscriptions.spec import EXT_FILTER, EXT_HEARTBEAT, EXT_PAYLOAD, PROFILE_SUBSCRIPTION
    from hub.subscriptions.topics import TOPIC_BASE

    channel: dict = {"type": "rest-hook", "endpoint": endpoint,
                     "payload": "application/fhir+json",
                     "_payload": {"extension": [{"url": EXT_PAYLOAD, "valueCode": content}]}}
    if heartbeat:
        channel["extension"] = [{"url": EXT_HEARTBEAT, "valueUnsignedInt": heartbeat}]
    if headers:
        channel["header"] = headers
    body = {"resourceType": "Subscription", "meta": {"profile": [PROFILE_SUBSCRIPTION]},
            "status": "requested", "reason": "test", "criteria": f"{TOPIC_BASE}/{topic}",
            "channel": channel}
    if filters:
        body["_criteria"] = {"extension": [{"url": EXT_FILTER, "valueString": f}
                                           for f in filters]}
    return body
