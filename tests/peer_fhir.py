"""The peer FHIR server of ../shared/tools/fhir-check (Medplum, in memory) for the tests.

It stands in for a hospital EHR or an agency's FHIR server. scripts/test installs it; a
missing peer fails the test (CI always has it), it is never skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

SHARED = (Path(__file__).resolve().parents[1] / ".." / "shared").resolve()
PEER = Path(os.environ.get("FHIR_CHECK_PEER", SHARED / "tools" / "fhir-check" / "peer_server.mjs"))
NODE_DIR = Path(os.environ.get("FHIR_CHECK_NODE_DIR",
                               Path.home() / ".cache" / "fhir-check" / "node"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_peer(timeout: float = 60.0, *, check_references: bool = False
               ) -> tuple[str, subprocess.Popen]:
    """Start a peer server on a free loopback port; (FHIR base URL, process).

    ``check_references``: the peer refuses (400) a write whose relative reference names no
    resource it holds, as a HAPI FHIR JPA server does by default."""
    node = shutil.which("node")
    assert node and PEER.exists() and (NODE_DIR / "node_modules").exists(), \
        "the fhir-check peer server (node + Medplum) is not installed: run scripts/test"
    port = free_port()
    flags = ["--check-references"] if check_references else []
    proc = subprocess.Popen([node, str(PEER), "--port", str(port), "--base", "/fhir", *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, FHIR_CHECK_NODE_DIR=str(NODE_DIR)))
    base = f"http://127.0.0.1:{port}/fhir"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode()[-2000:])
        try:
            if requests.get(f"{base}/metadata", timeout=1).ok:
                return base, proc
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            stop_peer(proc)
            raise AssertionError("the peer server did not start")
        time.sleep(0.1)


def stop_peer(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a hung node process
        proc.kill()
        proc.wait(5)
    proc.stderr.close()


@contextmanager
def running_peer(*, check_references: bool = False, organization: tuple[str, str] | None = None
                 ) -> Iterator[str]:
    """A peer server for the ``with`` block (stopped after it, whatever happens): its FHIR
    base URL. ``organization``: (reference, name) of the partner's own Organization, put on
    the peer first."""
    base, proc = start_peer(check_references=check_references)
    try:
        if organization is not None:
            reference, name = organization
            resp = requests.put(f"{base}/{reference}", json={
                "resourceType": "Organization", "id": reference.split("/")[1], "name": name},
                headers={"Content-Type": "application/fhir+json"}, timeout=10)
            assert resp.ok, resp.text
        yield base
    finally:
        stop_peer(proc)
