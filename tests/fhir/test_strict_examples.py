"""Valid R4 goes in unchanged; the reference validator's verdicts are the hub's.

* every official R4 example of a supported type (the npm package hl7.fhir.r4.examples that
  ../shared/tools/fhir-check installs) and every example of ../shared/fhir-examples is POSTed
  as its file's bytes and accepted; read back, it is what was sent (decimals as written);
* HL7's own validator cases (../shared/hl7-validator-cases): accepted or refused (400/422 with
  an OperationOutcome) as the Java reference validator does.

The only refusals are examples that are themselves invalid, named in ``INVALID_EXAMPLES``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from hub.fhirapi.interactions import SERVER_WRITTEN
from hub.fhirjson import codec
from hub.fhirjson.codec import FhirDecimal
from hub.fhirstore.searchparams import SUPPORTED_TYPES

SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared").resolve()
OFFICIAL = Path(os.environ.get("FHIR_CHECK_NODE_DIR",
                               Path.home() / ".cache" / "fhir-check" / "node")) \
    / "node_modules" / "hl7.fhir.r4.examples"
HL7_CASES = SHARED / "hl7-validator-cases"
FHIR_JSON = "application/fhir+json"

#: official examples that are not valid R4, and why (the independent validator agrees)
INVALID_EXAMPLES = {
    "Observation-clinical-gender.json":
        ("Observation.performer[0].reference", "performer is Encounter/example: Encounter is "
                                               "not an allowed target of Observation.performer"),
}


def _official(rtype: str) -> list[Path]:
    assert OFFICIAL.is_dir(), f"{OFFICIAL} is missing: run ../shared/tools/fhir-check/setup.sh"
    found = []
    for path in sorted(OFFICIAL.glob(f"{rtype}-*.json")):
        with open(path, "rb") as fh:
            if codec.loads(fh.read()).get("resourceType") == rtype:
                found.append(path)
    return found


def _decimal_texts(node) -> set[str]:
    if isinstance(node, dict):
        return set().union(*(_decimal_texts(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_decimal_texts(v) for v in node)) if node else set()
    return {node.text} if type(node) is FhirDecimal else set()


def _without_meta(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


def _post_raw(fhir, rtype: str, raw: bytes):
    return fhir.post(f"/fhir/{rtype}", data=raw, headers={"Content-Type": FHIR_JSON})


def _accepted_unchanged(fhir, rtype: str, raw: bytes) -> str | None:
    """None if the hub accepts the resource and serves back what was sent, else why not."""
    resp = _post_raw(fhir, rtype, raw)
    if resp.status_code != 201:
        return f"{resp.status_code}: {resp.get_data(as_text=True)[:600]}"
    sent = codec.loads(raw)
    read = fhir.get(f"/fhir/{rtype}/{resp.get_json()['id']}")
    text = read.get_data(as_text=True)
    if _without_meta(codec.loads(text)) != _without_meta(sent):
        return "read back differs from what was sent"
    lost = [t for t in _decimal_texts(sent) if t not in text]
    if lost:
        return f"decimals not served as written: {lost}"
    return None


@pytest.mark.parametrize("rtype", SUPPORTED_TYPES)
def test_official_r4_examples_are_accepted(fhir, rtype):
    paths = _official(rtype)
    assert paths, f"no official example of {rtype}"
    if rtype in SERVER_WRITTEN:  # Provenance: written by the server only (issue 9.6)
        for path in paths:
            assert _post_raw(fhir, rtype, path.read_bytes()).status_code == 405, path.name
        return
    if rtype == "Subscription":  # valid, but refused by policy: no endpoint is allowed
        for path in paths:  # (HUB_SUBSCRIPTION_ENDPOINTS is empty, see docs/security.md)
            resp = _post_raw(fhir, rtype, path.read_bytes())
            assert resp.status_code == 422, path.name
            assert resp.get_json()["issue"][0]["expression"] == ["Subscription.channel.endpoint"]
        return
    problems = {}
    for path in paths:
        raw = path.read_bytes()
        if path.name in INVALID_EXAMPLES:
            expression, _why = INVALID_EXAMPLES[path.name]
            resp = _post_raw(fhir, rtype, raw)
            assert resp.status_code == 422, resp.get_data(as_text=True)
            assert expression in [e for i in resp.get_json()["issue"]
                                  for e in i.get("expression", [])]
            continue
        problem = _accepted_unchanged(fhir, rtype, raw)
        if problem:
            problems[path.name] = problem
    assert not problems, json.dumps(problems, indent=1)


def test_shared_examples_of_supported_types_are_accepted(fhir):
    paths = sorted((SHARED / "fhir-examples").glob("*/*.json"))
    assert paths
    problems, tried = {}, 0
    for path in paths:
        raw = path.read_bytes()
        rtype = codec.loads(raw).get("resourceType")
        if rtype not in SUPPORTED_TYPES or rtype in SERVER_WRITTEN:
            continue
        if rtype == "Subscription":  # refused by policy (see above), not for its content
            assert _post_raw(fhir, rtype, raw).status_code == 422, path.name
            continue
        tried += 1
        problem = _accepted_unchanged(fhir, rtype, raw)
        if problem:
            problems[str(path.relative_to(SHARED))] = problem
    assert tried > 100 and not problems, json.dumps(problems, indent=1)


def _java_path(error: str) -> str:
    """``Observation.value.ofType(integer): ...`` -> ``Observation.valueInteger``."""
    path = re.sub(r"/\*.*?\*/", "", error.split(": ", 1)[0])
    return re.sub(r"\.(\w+)\.ofType\((\w)(\w*)\)",
                  lambda m: f".{m[1]}{m[2].upper()}{m[3]}", path)


def _hl7_cases() -> list[dict]:
    with open(HL7_CASES / "cases.json", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.parametrize("case", _hl7_cases(), ids=lambda c: c["name"])
def test_hl7_validator_cases(fhir, case):
    raw = (HL7_CASES / case["file"]).read_bytes()
    resp = _post_raw(fhir, case["resourceType"], raw)
    if case["expect"] == "accept":
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert all(i["severity"] == "error" for i in body["issue"])
    if case["kinds"] != ["json-syntax"]:
        # the hub's paths agree with the reference validator's: at or under one of them
        ours = [e for i in body["issue"] for e in i.get("expression", [])]
        theirs = [_java_path(e) for e in case["java_errors"]]
        assert any(o.startswith(t) or t.startswith(o) for o in ours for t in theirs), \
            (ours, theirs)
    listed = fhir.get(f"/fhir/{case['resourceType']}/_history").get_json()
    assert listed["total"] == 0  # nothing stored
