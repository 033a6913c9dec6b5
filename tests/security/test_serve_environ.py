"""granian starts each request's WSGI environ from a copy of the process environment; the
app ``hub serve`` runs under it must never see the process's variables (secrets among
them), only the request's (``hub.serving.WithoutProcessEnv``). Over real HTTP against
``hub.serving.serve_granian`` in a child process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from hub.serving import WithoutProcessEnv

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLANTED = "planted-secret-4d1f"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_granian_requests_carry_no_process_environment(tmp_path):
    port = _free_port()
    env = {**os.environ, "HUB_SECRET_KEY": PLANTED, "PARTNER_CLIENT_SECRET": PLANTED,
           "PYTHONPATH": str(ROOT)}
    code = ("from hub.serving import serve_granian; from tests.security.serve_echo import "
            f"build; serve_granian(build, host='127.0.0.1', port={port}, threads=2, "
            "max_body_bytes=1024)")
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
            assert time.monotonic() < deadline
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/fhir/Patient?name=x",
                                      headers={"X-Probe": "yes"}, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(20)
    seen = answer.json()
    assert PLANTED not in answer.text
    assert "HUB_SECRET_KEY" not in seen and "PATH" not in seen and "HOME" not in seen
    # the request's own variables are all there
    assert seen["REQUEST_METHOD"] == "GET" and seen["PATH_INFO"] == "/fhir/Patient"
    assert seen["QUERY_STRING"] == "name=x" and seen["HTTP_X_PROBE"] == "yes"


def test_a_request_variable_is_never_dropped_for_a_process_variable_of_its_name():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    process = {"HUB_SECRET_KEY": "s", "CONTENT_TYPE": "text/x", "HTTP_HOST": "x",
               "QUERY_STRING": "q"}
    wrapped = WithoutProcessEnv(app, process)
    wrapped({**process, "CONTENT_TYPE": "application/json", "HTTP_HOST": "hub",
             "QUERY_STRING": "a=1"}, None)
    assert seen == {"CONTENT_TYPE": "application/json", "HTTP_HOST": "hub",
                    "QUERY_STRING": "a=1"}
