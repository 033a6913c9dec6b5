"""Run the independent FHIR R4 validator (../shared/tools/fhir-check) over many resources."""

from __future__ import annotations

from pathlib import Path

import fhir_validator

SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()
EXAMPLES = SHARED / "fhir-examples"


def validate(resources: list[dict], tmp_path: Path | None = None) -> list[dict]:
    """Validate all resources in one call; returns the validator's JSON results."""
    return fhir_validator.validate(resources)


def assert_valid(resources: list[dict], tmp_path: Path | None = None) -> None:
    fhir_validator.assert_valid(resources)
