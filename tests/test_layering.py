"""The case record stays plain: no Flask, SQL, HTTP or FHIR inside (DESIGN.md layout)."""

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parents[1] / "hub"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_case_record_imports_only_the_standard_library_and_its_vocabulary():
    for module in ("cases.py", "case_terms.py"):
        imported = _imports(HUB / module)
        foreign = {n for n in imported if n.split(".")[0] in
                   {"flask", "sqlalchemy", "requests", "fhir", "marshmallow", "werkzeug"}}
        assert not foreign, (module, foreign)
        assert {n for n in imported if n.startswith("hub")} <= {"hub.case_terms"}, module


def test_adapters_do_not_depend_on_flask_or_routes():
    for path in (HUB / "adapters").glob("*.py"):
        assert not {n for n in _imports(path)
                    if n.split(".")[0] == "flask" or n.startswith("hub.routes")}, path.name


def test_routes_do_not_call_partners_directly():
    for path in (HUB / "routes").glob("*.py"):
        assert "requests" not in {n.split(".")[0] for n in _imports(path)}, path.name
