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
        # its vocabulary, and the hub's clock (a standard-library leaf, checked below)
        assert {n for n in imported if n.startswith("hub")} <= {"hub.case_terms", "hub",
                                                                  "hub.clock"}, module


def test_adapters_do_not_depend_on_flask_or_routes():
    for path in (HUB / "adapters").glob("*.py"):
        assert not {n for n in _imports(path)
                    if n.split(".")[0] == "flask" or n.startswith("hub.routes")}, path.name


def test_routes_do_not_call_partners_directly():
    for path in (HUB / "routes").glob("*.py"):
        assert "requests" not in {n.split(".")[0] for n in _imports(path)}, path.name


_WEB = {"flask", "werkzeug"}


def _package_imports(package: str) -> dict[str, set[str]]:
    return {path.name: _imports(path) for path in sorted((HUB / package).glob("*.py"))}


def test_fhirstore_imports_no_flask_and_nothing_above_it():
    files = _package_imports("fhirstore")
    assert "repository.py" in files and "searchsql.py" in files
    for name, imported in files.items():
        assert not {n for n in imported if n.split(".")[0] in _WEB}, name
        assert not {n for n in imported if n.startswith(("hub.fhirapi", "hub.routes",
                                                         "hub.security"))}, name


def test_fhirapi_is_http_agnostic():
    files = _package_imports("fhirapi")
    assert "interactions.py" in files and "context.py" in files
    for name, imported in files.items():
        assert not {n for n in imported if n.split(".")[0] in _WEB}, name
        assert not {n for n in imported if n.startswith("hub.routes")}, name


def test_security_rules_are_pure_and_the_guards_sit_with_the_routes():
    imported = _imports(HUB / "security.py")
    assert not {n for n in imported if n.split(".")[0] in _WEB}, imported
    assert {n for n in imported if n.startswith("hub")} <= {"hub.errors"}
    assert "hub.security" in _imports(HUB / "routes" / "guards.py")


def test_small_shared_helpers_import_nothing_of_the_hub():
    for module in ("etag.py", "clock.py", "extras.py"):
        imported = _imports(HUB / module)
        assert not {n for n in imported if n.startswith("hub")}, module
        assert not {n for n in imported if n.split(".")[0] in _WEB}, module


def test_one_clock_and_one_etag_format():
    """Only hub/clock.py reads the system clock; only hub/etag.py writes ``W/"..."``.

    The adapters are the exception: they import nothing of the hub outside hub.adapters
    (an import-linter contract), so they keep their own.
    """
    for path in sorted(HUB.rglob("*.py")):
        if path.parent.name == "adapters":
            continue
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("now", "utcnow", "today") \
                    and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id in ("datetime", "date"):
                assert path.name == "clock.py", f"{path.relative_to(HUB)}:{node.lineno}"
        if path.name != "etag.py":
            assert "W/\"{" not in text, path.relative_to(HUB)
