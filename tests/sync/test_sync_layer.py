"""hub/sync is the outbox, the executors and the fetchers: it imports no flows, inbound,
projection, services or routes (not even inside functions), and no handler is registered
by importing anything: the runtime registers them (``hub.bootstrap``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from hub.bootstrap import build_runtime
from hub.config import Settings

SYNC = Path(__file__).resolve().parents[2] / "hub" / "sync"
ABOVE_SYNC = ("hub.flows", "hub.inbound", "hub.projection", "hub.services", "hub.routes",
              "hub.bootstrap", "hub.fhirapi")


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_sync_imports_nothing_above_it():
    for path in sorted(SYNC.glob("*.py")):
        above = {n for n in _imported(path) if n.startswith(ABOVE_SYNC)}
        assert not above, (path.name, above)


def test_importing_the_executors_loads_no_flow():
    code = ("import sys, hub.sync.worker, hub.sync.celery_app, hub.sync.deliver\n"
            f"print(sorted(m for m in sys.modules if m.startswith({ABOVE_SYNC!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout


def test_handlers_are_registered_by_the_runtime_only(tmp_path):
    from hub.flows import handlers as flow_handlers  # importing registers nothing
    from hub.sync.handlers import Handlers

    assert Handlers().kinds() == []
    runtime = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}"),
                            migrate=False)
    try:
        assert runtime.handlers.kinds() == sorted([
            ("pull", t) for t in flow_handlers.PULL_APPLIERS] + [
            ("pull", "Referral"), ("send", "Referral"), ("cancel", "Referral"),
            ("submit", "Claim"), ("submit", "CoverageEligibilityRequest"), ("poll", "Claim")])
        # each runtime has its own registry: a second one does not see the first's
        other = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}"),
                              migrate=False)
        assert other.handlers is not runtime.handlers
        other.close()
    finally:
        runtime.close()
