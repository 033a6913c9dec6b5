"""Case-record test data shared by the tests of the case schema, store, services and API."""

from __future__ import annotations

import copy
import json
from pathlib import Path

RIVER_PATH = Path(__file__).parent.parent / "fixtures" / "cases" / "river.json"


def river() -> dict:
    """The River case in the API's input format (a fresh copy)."""
    return json.loads(RIVER_PATH.read_text())


def minimal(**extra) -> dict:
    """The smallest valid case input."""
    body = {"patient": {"name": {"family": "Test", "given": ["Pat"]}},
            "model": "clinical", "setting": "hospital"}
    body.update(copy.deepcopy(extra))
    return body


def physician() -> dict:
    return {"name": "Dr Robin Vale", "reference": "Practitioner/dr-vale"}
