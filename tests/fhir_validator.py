"""The independent FHIR R4 validator (../shared/tools/fhir-check/validate.mjs) for tests.

One runner for every test module: resources go in one NDJSON file per call, the JSON
results come back through a file (node cuts a large piped stdout when it exits), and a
missing validator fails the test: CI always has it (scripts/test installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

SHARED = (Path(__file__).resolve().parents[1] / ".." / "shared").resolve()
VALIDATOR = SHARED / "tools" / "fhir-check" / "validate.mjs"


def validate(resources: list[dict]) -> list[dict]:
    """The validator's result per resource (Bundles give one per entry as well)."""
    node = shutil.which("node")
    if node is None or not VALIDATOR.exists():
        raise AssertionError("the fhir-check validator is not installed: run scripts/test")
    if not resources:
        return []
    with tempfile.TemporaryDirectory(prefix="fhir-check-") as tmp:
        source, output = Path(tmp) / "resources.ndjson", Path(tmp) / "results.json"
        source.write_text("".join(json.dumps(r) + "\n" for r in resources))
        with output.open("w") as fh:
            subprocess.run([node, str(VALIDATOR), "--json", str(source)], stdout=fh,
                           stderr=subprocess.DEVNULL, timeout=600, check=False)
        text = output.read_text()
    return json.loads(text[text.find("["):text.rindex("]") + 1])


def failures(results: list[dict]) -> list[dict]:
    """The failing results, each with its error-level issues only."""
    return [{"resource": r.get("resource"),
             "issues": [i for i in r.get("issues", []) if i.get("severity") in ("error", "fatal")]}
            for r in results if r.get("status") != "PASS"]


def assert_valid(resources: list[dict]) -> None:
    """Every resource passes (zero FAIL), and every one was actually checked."""
    results = validate(resources)
    assert len(results) >= len(resources), "the validator checked fewer resources than given"
    failed = failures(results)
    assert not failed, json.dumps(failed[:10], indent=1)
