"""Issue 9 item 7 over real HTTP against ``hub serve`` as an operator runs it, on each of
its servers (granian, the default, and waitress; ``hub.serving``), with a raw socket. A
body over HUB_MAX_BODY_BYTES is answered 413 by the hub itself, as an OperationOutcome
(``/fhir``) or a JSON problem (``/api``): announced by Content-Length, or chunked (no
Content-Length announces its size; the server side reads it and declares its length). A
chunked body far past the limit is stopped while it arrives by the backstop, long
before the sender is done. Nothing is stored in any case.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy import func
from sqlalchemy import select as sql_select

from hub.fhirstore.tables import resources
from hub.store.case_tables import cases

LIMIT = 256 * 1024  # HUB_MAX_BODY_BYTES of the served hub
CHUNK = 64 * 1024
INTENDED = 64 * 1024 * 1024  # what the attacker would send: 256 times the limit
FHIR = "application/fhir+json"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(params=["granian", "waitress"])
def served(request, settings, auth_headers, tmp_path):
    """``hub serve --server <each>`` on a free port with a small body limit; (port, headers)."""
    hdr = auth_headers("system/*.cruds")  # migrates and empties the database first
    port = _free_port()
    env = {**os.environ, "HUB_DATABASE_URL": settings.database_url,
           "HUB_SECRET_KEY": settings.secret_key, "HUB_BASE_URL": "http://hub.test",
           "HUB_SYNC_WORKER": "false", "HUB_PORT": str(port),
           "HUB_MAX_BODY_BYTES": str(LIMIT)}
    hub_command = os.path.join(os.path.dirname(sys.executable), "hub")
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen([hub_command, "serve", "--server", request.param], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            for _ in range(300):
                try:
                    requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            yield port, hdr
        finally:
            proc.terminate()
            proc.wait(10)


def _head(port: int, hdr: dict, path: str = "/fhir/Patient", content_type: str = FHIR,
          length: int | None = None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else \
        "Transfer-Encoding: chunked"
    return (f"POST {path} HTTP/1.1\r\nHost: hub.test\r\n"
            f"Authorization: {hdr['Authorization']}\r\nContent-Type: {content_type}\r\n"
            f"{framing}\r\nConnection: close\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _read_all(sock) -> bytes:
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass
    return answer


def _count(app) -> int:
    """Stored Patients (a stored one comes with its server-written Provenance)."""
    with app.extensions["hub.db"].engine.connect() as conn:
        return conn.execute(sql_select(func.count()).select_from(resources).where(
            resources.c.res_type == "Patient")).scalar_one()


@pytest.mark.integration
def test_a_chunked_body_over_the_limit_is_cut_off_while_it_arrives(served, app):
    port, hdr = served
    sent, answered = 0, False
    body = b'{"resourceType":"Patient","name":[{"family":"' + b"x" * (CHUNK - 45)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_head(port, hdr))
        try:
            while sent < INTENDED:
                sock.sendall(_chunk(body if sent == 0 else b"x" * CHUNK))
                sent += CHUNK
                if select.select([sock], [], [], 0)[0]:  # the server has answered
                    answered = True
                    break
        except (BrokenPipeError, ConnectionResetError):
            answered = True  # the server closed the connection on us
        answer = _read_all(sock)
    head, _, _ = answer.partition(b"\r\n\r\n")
    assert answered and head.startswith(b"HTTP/1.1 413"), head[:200]
    # stopped long before the end: the rest was never read (nor even sent)
    print(f"sent {sent} bytes of {INTENDED} before the 413")
    assert sent < INTENDED // 4, sent
    assert b"connection: close" in head.lower()
    assert _count(app) == 0


@pytest.mark.integration
def test_a_chunked_body_under_the_limit_is_stored(served, app):
    port, hdr = served
    patient = json.dumps({"resourceType": "Patient", "name": [{"family": "Chunked"}]})
    raw = patient.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(_head(port, hdr) + _chunk(raw[:20]) + _chunk(raw[20:]) + b"0\r\n\r\n")
        answer = _read_all(sock)
    head, _, _ = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201"), answer[:300]
    assert _count(app) == 1


def _send(port: int, request: bytes) -> tuple[bytes, bytes]:
    """(head, body) of the answer to ``request`` sent whole."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def _cases(app) -> int:
    with app.extensions["hub.db"].engine.connect() as conn:
        return conn.execute(sql_select(func.count()).select_from(cases)).scalar_one()


def _oversized_patient(size: int) -> bytes:
    start = b'{"resourceType":"Patient","name":[{"family":"'
    return start + b"x" * (size - len(start) - 4) + b'"}]}'


@pytest.mark.integration
def test_a_declared_body_over_the_limit_gets_an_operation_outcome(served, app):
    port, hdr = served
    body = _oversized_patient(LIMIT + 1000)
    head, answer = _send(port, _head(port, hdr, length=len(body)) + body)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"content-type: application/fhir+json" in head.lower()
    outcome = json.loads(answer)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "too-costly"
    assert _count(app) == 0


@pytest.mark.integration
def test_a_declared_case_api_body_over_the_limit_gets_a_json_problem(served, app):
    port, hdr = served
    body = json.dumps({"summary": "x" * (LIMIT + 1000)}).encode()
    head, answer = _send(port, _head(port, hdr, path="/api/cases",
                                     content_type="application/json", length=len(body))
                         + body)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"content-type: application/json" in head.lower()
    problem = json.loads(answer)
    assert problem["status"] == 413 and "resourceType" not in problem
    assert _cases(app) == 0


@pytest.mark.integration
def test_a_chunked_body_a_little_over_the_limit_gets_an_operation_outcome(served, app):
    port, hdr = served
    body = _oversized_patient(LIMIT + CHUNK)
    chunks = b"".join(_chunk(body[i:i + CHUNK]) for i in range(0, len(body), CHUNK))
    head, answer = _send(port, _head(port, hdr) + chunks + b"0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"content-type: application/fhir+json" in head.lower()
    assert json.loads(answer)["resourceType"] == "OperationOutcome"
    assert _count(app) == 0
