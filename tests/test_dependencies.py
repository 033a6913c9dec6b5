"""Dependencies match the code and the deployment.

Every third-party module hub/ imports is declared in pyproject.toml; what only an extra
brings (PostgreSQL driver, Celery and its broker clients, gunicorn) is imported where it is
used and guarded, so that ``pip install .`` runs the embedded hub without them and a missing
extra is an error naming the extra; the Dockerfile installs the extras docker-compose.yml
runs.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "hub"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NAME = PROJECT["name"]


def _dist(requirement: str) -> str:
    """The normalized distribution name of a requirement (``psycopg[binary]>=3`` -> psycopg)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def _extras(requirement: str) -> set[str]:
    m = re.match(r"[A-Za-z0-9._-]+\[([^\]]*)\]", requirement)
    return {e.strip() for e in m.group(1).split(",")} if m else set()


BASE = {_dist(r) for r in PROJECT["dependencies"]}
EXTRAS = {extra: {_dist(r) for r in reqs if _dist(r) != _dist(NAME)}
          for extra, reqs in PROJECT["optional-dependencies"].items()}
RUNTIME_EXTRAS = {k: v for k, v in EXTRAS.items() if k != "test"}
OPTIONAL = set().union(*RUNTIME_EXTRAS.values())


def _distributions_of(module: str) -> set[str]:
    return {_dist(d) for d in importlib.metadata.packages_distributions().get(module, [])}


def _hub_sources() -> list[Path]:
    return sorted(p for p in HUB.rglob("*.py") if "migrations" not in p.parts) + sorted(
        (HUB / "store" / "migrations").rglob("*.py"))


def _third_party_imports(path: Path) -> list[tuple[str, ast.AST, list[ast.AST]]]:
    """(top-level module, import node, its ancestors) of each absolute import in ``path``."""
    tree = ast.parse(path.read_text())
    found = []

    def walk(node: ast.AST, parents: list[ast.AST]) -> None:
        for child in ast.iter_child_nodes(node):
            names = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                top = name.split(".")[0]
                if top != "hub" and top not in sys.stdlib_module_names:
                    found.append((top, child, parents))
            walk(child, [*parents, child])

    walk(tree, [])
    return found


def _guarded(parents: list[ast.AST]) -> bool:
    """Imported inside a function, or in a ``try`` that handles its absence."""
    for node in parents:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ModuleNotFoundError",
                                                               "ImportError")
                for h in node.handlers):
            return True
    return False


def test_every_third_party_import_of_the_hub_is_declared():
    seen = set()
    for path in _hub_sources():
        for module, _node, _parents in _third_party_imports(path):
            seen.add(module)
            dists = _distributions_of(module)
            assert dists, f"{path.relative_to(ROOT)}: {module} belongs to no installed package"
            assert dists & (BASE | OPTIONAL), \
                f"{path.relative_to(ROOT)} imports {module} ({dists}) undeclared in pyproject"
    # the check saw the hub's real dependencies, including the ones other packages bring
    assert {"flask", "werkzeug", "pydantic", "sqlalchemy", "jwt", "celery"} <= seen


def test_modules_of_extras_are_imported_only_where_guarded():
    for path in _hub_sources():
        for module, node, parents in _third_party_imports(path):
            if _distributions_of(module) & BASE:
                continue
            assert _guarded(parents), \
                f"{path.relative_to(ROOT)}:{node.lineno} imports {module} unguarded"


def test_the_embedded_default_needs_no_extra_and_the_extras_bring_their_clients():
    assert not BASE & OPTIONAL, "a dependency is both required and optional"
    assert {"psycopg", "celery", "gunicorn"} <= OPTIONAL and not {
        "psycopg", "celery", "gunicorn", "redis", "kombu"} & BASE
    assert "psycopg" in RUNTIME_EXTRAS["postgres"]
    celery = next(r for r in PROJECT["optional-dependencies"]["celery"]
                  if _dist(r) == "celery")
    assert "redis" in _extras(celery), "the Celery extra must bring the Redis broker client"
    # the test extra keeps CI on PostgreSQL and Celery
    self_ref = [r for r in PROJECT["optional-dependencies"]["test"] if _dist(r) == _dist(NAME)]
    assert self_ref and {"postgres", "celery"} <= _extras(self_ref[0])


def test_what_another_dependency_brings_is_not_declared_twice():
    # flask brings click/werkzeug and pyjwt[crypto] brings cryptography, but the hub imports
    # those directly (hub/signing_keys.py generates ES256 keys), so they stay declared;
    # what the hub only uses through another package is not declared
    assert {"click", "werkzeug", "cryptography"} <= BASE
    assert not {"itsdangerous", "blinker", "markupsafe"} & BASE


def _redis_ranges() -> dict[str, str]:
    """The redis versions each declaring party accepts: the hub's redis extra, and the
    redis extras of Flask-Limiter's storage (limits) and of Celery's broker client (kombu)."""
    from packaging.requirements import Requirement

    ranges = {"fhir-case-hub[redis]": next(
        r for r in PROJECT["optional-dependencies"]["redis"] if _dist(r) == "redis")}
    for dist in ("limits", "kombu"):
        for text in importlib.metadata.requires(dist) or []:
            req = Requirement(text)
            if req.name == "redis" and req.marker and req.marker.evaluate({"extra": "redis"}):
                ranges[f"{dist}[redis]"] = text.split(";")[0]
    return ranges


def test_the_redis_extra_installs_with_celery_and_is_what_ci_tests():
    from packaging.requirements import Requirement

    ranges = _redis_ranges()
    assert set(ranges) == {"fhir-case-hub[redis]", "limits[redis]", "kombu[redis]"}
    installed = importlib.metadata.version("redis")
    # one redis satisfies all three (the one installed by the test extra)
    for party, text in ranges.items():
        assert Requirement(text).specifier.contains(installed), (party, text, installed)
    self_ref = next(r for r in PROJECT["optional-dependencies"]["test"]
                    if _dist(r) == _dist(NAME))
    assert {"redis", "celery"} <= _extras(self_ref)


def test_the_redis_transport_of_the_celery_extra_loads():
    from kombu import Connection

    with Connection("redis://127.0.0.1:6379/0") as conn:
        transport = conn.transport  # imports kombu.transport.redis: redis + packaging
    assert type(transport).__module__ == "kombu.transport.redis"


_BLOCKED_RUN = r"""
import importlib, json, pkgutil, sys
BLOCKED = {"psycopg", "psycopg2", "celery", "kombu", "redis", "gunicorn", "billiard"}

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Block())
out = {"failed": {}}
import hub
for info in pkgutil.walk_packages(hub.__path__, "hub."):
    if ".migrations" in info.name or info.name == "hub.wsgi":
        continue
    try:
        importlib.import_module(info.name)
    except ImportError as exc:
        out["failed"][info.name] = [type(exc).__name__, str(exc)]
from hub import create_app
from hub.config import Settings
app = create_app(Settings(database_url=sys.argv[1]))
out["healthz"] = app.test_client().get("/healthz").status_code
from hub.store.db import Database
try:
    Database("postgresql+psycopg://hub@127.0.0.1:1/hub")
except ImportError as exc:
    out["postgres"] = [type(exc).__name__, str(exc)]
from click.testing import CliRunner
from hub.cli import main
result = CliRunner().invoke(main, ["celery", "kick"], env={"HUB_DATABASE_URL": sys.argv[1]})
out["cli"] = [result.exit_code, result.output]
print(json.dumps(out))
"""


def test_without_the_extras_the_hub_runs_and_names_the_missing_extra(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _BLOCKED_RUN,
                           f"sqlite:///{tmp_path / 'hub.db'}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # only the Celery executor needs its extra, and says so
    assert set(out["failed"]) == {"hub.sync.celery_app"}, out["failed"]
    kind, message = out["failed"]["hub.sync.celery_app"]
    assert kind == "MissingExtra" and f"pip install '{NAME}[celery]'" in message
    assert out["healthz"] == 200
    kind, message = out["postgres"]
    assert kind == "MissingExtra" and f"pip install '{NAME}[postgres]'" in message
    code, output = out["cli"]
    assert code == 1 and f"pip install '{NAME}[celery]'" in output \
        and "Traceback" not in output


def _compose_needs() -> set[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["x-hub-environment"]
    needs = set()
    if env["HUB_DATABASE_URL"].startswith("postgresql"):
        needs.add("postgres")
    for service in compose["services"].values():
        command = service.get("command") or []
        if command[:1] == ["gunicorn"]:
            needs.add("gunicorn")
        if command[:2] == ["hub", "celery"]:
            needs.add("celery")
    return needs


def test_the_image_installs_what_the_compose_file_runs():
    needs = _compose_needs()
    assert needs == {"postgres", "celery", "gunicorn"}
    installs = re.findall(r"pip install [^\n]*?\.\[([a-z,]+)\]", (ROOT / "Dockerfile").read_text())
    assert installs, "the Dockerfile installs the hub with its extras"
    assert needs <= set(installs[0].split(",")) <= set(RUNTIME_EXTRAS)
