"""hub/mappings stays pure: no Flask, SQLAlchemy or requests anywhere in it."""

import ast
from pathlib import Path

import hub.mappings

FORBIDDEN = {"flask", "sqlalchemy", "requests"}
ROOT = Path(hub.mappings.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_mappings_import_no_flask_sqlalchemy_requests():
    files = sorted(ROOT.rglob("*.py"))
    assert files
    for path in files:
        bad = _imports(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {bad}"


def test_fhir_models_come_from_hub_fhir_not_fhir_resources_top_level():
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in ("fhir.resources",):
                raise AssertionError(f"{path.name} imports the R5 top level of fhir.resources")
