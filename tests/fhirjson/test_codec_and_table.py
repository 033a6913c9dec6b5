"""The FHIR JSON codec (decimals as written, duplicate keys, no NaN) and the generated table."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.fhirjson import codec
from hub.fhirjson.codec import FhirDecimal
from hub.fhirjson.tables import STRUCTURES, SUPPORTED, TABLE_FILE
from hub.fhirstore.searchparams import SUPPORTED_TYPES

ROOT = Path(__file__).resolve().parents[2]
DEFS = Path(os.environ.get("FHIR_CHECK_NODE_DIR", Path.home() / ".cache" / "fhir-check" / "node")) \
    / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_raw_texts_are_spliced_as_stored_and_look_alike_markers_are_left(ensure_ascii):
    """A Bundle of stored texts (``Raw``) is written with each text as it is; a string
    shaped like a splice marker (another call's nonce) stays the string it was."""
    stored = ['{"resourceType":"Basic","id":"1","x":1.50}', '{"resourceType":"Basic","id":"2"}']
    look_alike = "\x00" + "0123456789abcdef" + ":0"
    bundle = {"entry": [{"resource": codec.Raw(t)} for t in stored],
              "note": look_alike, "name": "Müller", "n": 1.0}
    text = codec.dumps(bundle, ensure_ascii=ensure_ascii)
    for t in stored:
        assert t in text
    back = codec.loads(text)
    assert back["note"] == look_alike and back["name"] == "Müller"
    assert [e["resource"]["id"] for e in back["entry"]] == ["1", "2"]
    assert ("Müller" in text) is not ensure_ascii


def test_decimals_round_trip_as_written():
    text = '{"a":105.00,"b":[1.0e-400,2,1.5,-0.10],"c":"x"}'
    data = codec.loads(text)
    assert data["a"] == 105.0 and type(data["a"]) is FhirDecimal
    assert data["b"][0] == 0.0 and data["b"][0].text == "1.0e-400"
    assert type(data["b"][1]) is int
    assert codec.dumps(data) == text
    assert codec.dumps(copy.deepcopy(data)) == text
    assert data["a"] + 1 == 106.0  # still a number to everything downstream


def test_plain_json_goes_through_unchanged():
    data = {"a": 1.5, "b": [True, None, "é"], "c": {"d": 2}}
    assert json.loads(codec.dumps(data)) == data
    assert codec.dumps(codec.loads('{"v":0.5}')) == '{"v":0.5}'


def test_duplicate_keys_are_found_with_their_paths():
    text = '{"resourceType":"Patient","name":[{"given":["a"],"given":["b"]}],"x":1,"x":2}'
    assert codec.loads(text) == {"resourceType": "Patient", "name": [{"given": ["b"]}], "x": 2}
    with pytest.raises(codec.DuplicateKeys) as exc:
        codec.loads(text, strict=True)
    assert sorted(exc.value.paths) == ["Patient.name[0].given", "Patient.x"]


@pytest.mark.parametrize("text", ['{"a":NaN}', '{"a":Infinity}', '{"a":-Infinity}', "{"])
def test_not_json_is_refused(text):
    with pytest.raises(ValueError):
        codec.loads(text, strict=True)


def test_table_covers_the_supported_types():
    assert tuple(SUPPORTED) == tuple(SUPPORTED_TYPES)
    for rtype in SUPPORTED_TYPES:
        assert STRUCTURES[rtype].is_resource
    gender = STRUCTURES["Patient"].elements["gender"]
    assert gender.codes == {"male", "female", "other", "unknown"}
    assert STRUCTURES["Observation"].elements["subject"].targets == \
        {"Patient", "Group", "Device", "Location"}


def test_committed_table_is_what_the_generator_makes(tmp_path):
    assert DEFS.is_dir(), f"{DEFS} is missing: run ../shared/tools/fhir-check/setup.sh"
    out = tmp_path / "r4_tables.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_fhir_tables.py"),
                    "--definitions", str(DEFS), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_text() == TABLE_FILE.read_text(), \
        "hub/fhirjson/r4_tables.json is stale: run scripts/gen_fhir_tables.py"


def test_fhirjson_is_a_leaf_of_the_hub():
    """The strict pass needs no node, npm, Flask, SQL or model library: the table and Python."""
    import ast

    for path in (ROOT / "hub" / "fhirjson").glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
            {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        hub = {n for n in names if n.startswith("hub") and not n.startswith("hub.fhirjson")}
        assert hub <= {"hub.errors"}, (path.name, hub)
        assert not {n.split(".")[0] for n in names} & {"flask", "sqlalchemy", "fhir",
                                                       "pydantic", "jsonschema"}, path.name


def test_duplicates_are_found_whatever_the_thread_parsed_before():
    """The strict parse walks for duplicates only when it built one: a parse that failed
    half-way after a duplicate, a clean parse, and parses on other threads do not change
    what the next parse finds."""
    import threading

    deep = '{"a":[{"b":{"c":1,"c":2}}]}'
    with pytest.raises(ValueError):
        codec.loads('{"x":1,"x":2,"y":', strict=True)  # a duplicate, then not JSON
    assert codec.loads('{"x":[{"y":1}]}', strict=True) == {"x": [{"y": 1}]}
    found: list[list[str]] = []

    def parse() -> None:
        for _ in range(200):
            try:
                codec.loads(deep, strict=True)
            except codec.DuplicateKeys as exc:
                found.append(exc.paths)
            codec.loads('{"z":{"w":[1,2]}}', strict=True)

    threads = [threading.Thread(target=parse) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == [["$.a[0].b.c"]] * 800
