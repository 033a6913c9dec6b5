"""Run the independent FHIR R4 validator (../shared/tools/fhir-check) over many resources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()
EXAMPLES = SHARED / "fhir-examples"
VALIDATOR = SHARED / "tools" / "fhir-check" / "validate.mjs"


def validate(resources: list[dict], tmp_path: Path) -> list[dict]:
    """Validate all resources in one call (NDJSON); returns the validator's JSON results."""
    if shutil.which("node") is None or not VALIDATOR.exists():
        pytest.skip("node or ../shared/tools/fhir-check not available")
    path = tmp_path / "resources.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in resources))
    out = tmp_path / "validator-output.json"
    # to a file, not a pipe: node exits before a large piped stdout is flushed
    with out.open("w") as fh:
        subprocess.run(["node", str(VALIDATOR), "--json", str(path)], stdout=fh,
                       stderr=subprocess.DEVNULL, timeout=300)
    text = out.read_text()
    return json.loads(text[text.find("["):text.rindex("]") + 1])


def assert_valid(resources: list[dict], tmp_path: Path) -> None:
    results = validate(resources, tmp_path)
    assert len(results) == len(resources)
    failed = [(r["resource"], [i["details"]["text"] + " @ " + ",".join(i.get("expression", []))
                               for i in r["issues"] if i["severity"] in ("error", "fatal")])
              for r in results if r["status"] != "PASS"]
    assert not failed, failed
