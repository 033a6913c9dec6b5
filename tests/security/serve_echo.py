"""An app for ``hub.serving.serve_granian`` in a child process (tests/security/
test_serve_environ.py): it answers the environ it was called with, as JSON."""

from __future__ import annotations

import json


def echo(environ, start_response):
    body = json.dumps({k: v for k, v in environ.items() if isinstance(v, str)}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def build():
    return echo, None
