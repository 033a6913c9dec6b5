"""Every core invariant of the tabled R4 types is checked, or named here with the reason.

The generated table (``hub/fhirjson/r4_tables.json``) lists, per structure, the invariants
(constraints of severity error) the official R4 definitions state; ``COVERED`` in
``hub.fhirjson.invariants`` names those the strict pass checks. Left out (``LEFT_OUT``): none
today. Every invariant of the supported types, of their datatypes, of the containers the API
reads (Bundle, Parameters) and of the resource types that may be contained in them is
machine-checkable without a terminology server; the two that need more than the JSON are
checked from what the JSON says: ctm-1 (``member.resolve()``: the reference's type, or the
contained resource's) and bdl-7 (``fullUrl & resource.meta.versionId``, distinct).

The invariants inherited from Element (ele-1: no empty elements, checked by the walk as "no
empty object/array/string") and DomainResource (dom-2..dom-6: dom-6, "should have a narrative",
is a guideline, not an error) are not in the table's per-type lists.

Each invariant is exercised below with a failing and a passing case, through
``check_resource`` (the API tests in tests/fhir/test_strict_invalid.py post the ones a
supported type can carry).
"""

from __future__ import annotations

import pytest

from hub.fhirjson.invariants import COVERED
from hub.fhirjson.strict import check_resource
from hub.fhirjson.tables import QUANTITY_PROFILES, TABLE_INVARIANTS

#: invariant keys left out, and why (none: see the module docstring)
LEFT_OUT: dict[str, str] = {}


def test_every_tabled_invariant_is_checked_or_named():
    missing = {(name, key) for name, keys in TABLE_INVARIANTS.items() for key in keys
               if key not in COVERED.get(name, ()) and key not in LEFT_OUT}
    assert not missing, sorted(missing)
    for name, keys in COVERED.items():
        assert set(keys) <= set(TABLE_INVARIANTS.get(name, ())), (name, keys)


def test_quantity_profiles_come_from_the_definitions():
    assert QUANTITY_PROFILES["Observation.referenceRange"] == {"low": "SimpleQuantity",
                                                               "high": "SimpleQuantity"}
    assert QUANTITY_PROFILES["Range"] == {"low": "SimpleQuantity", "high": "SimpleQuantity"}
    assert QUANTITY_PROFILES["Claim.item"] == {"quantity": "SimpleQuantity"}


def _keys(resource: dict) -> set[tuple[str, str]]:
    return {(i.path, i.message.rsplit("(", 1)[-1].rstrip(")")) for i in check_resource(resource)
            if i.code == "invariant"}


PAT = {"reference": "Patient/p1"}
ENTRY = {"fullUrl": "urn:uuid:8f1b7c1e-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "active": True}}


def bundle(kind: str, *entries: dict, **extra) -> dict:
    out = {"resourceType": "Bundle", "type": kind, **extra}
    if entries:
        out["entry"] = list(entries)
    return out


DOC_OK = {"identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"},
          "timestamp": "2024-03-01T10:00:00Z"}
COMPOSITION = {"resourceType": "Composition", "status": "final", "type": {"text": "x"},
               "date": "2024-03-01", "author": [{"display": "x"}], "title": "x"}

CASES = [
    # (resource, expected (path, key), or None when it passes)
    (bundle("collection", ENTRY, total=1), ("Bundle.total", "bdl-1")),
    (bundle("searchset", ENTRY, total=1), None),
    (bundle("collection", {**ENTRY, "search": {"mode": "match"}}),
     ("Bundle.entry[0].search", "bdl-2")),
    (bundle("transaction", ENTRY), ("Bundle.entry[0].request", "bdl-3")),
    (bundle("collection", {**ENTRY, "request": {"method": "GET", "url": "Patient"}}),
     ("Bundle.entry[0].request", "bdl-3")),
    (bundle("transaction-response", ENTRY), ("Bundle.entry[0].response", "bdl-4")),
    (bundle("transaction-response", {"response": {"status": "200"}}), None),
    (bundle("collection", ENTRY, ENTRY), ("Bundle.entry[1].fullUrl", "bdl-7")),
    (bundle("collection", ENTRY, {"fullUrl": ENTRY["fullUrl"], "resource": {
        "resourceType": "Patient", "meta": {"versionId": "2"}}}), None),
    (bundle("history", {**ENTRY, "request": {"method": "PUT", "url": "Patient/a"},
                        "response": {"status": "200"}},
            {**ENTRY, "request": {"method": "PUT", "url": "Patient/a"},
             "response": {"status": "200"}}), None),
    (bundle("document", {"resource": COMPOSITION}, timestamp="2024-03-01T10:00:00Z"),
     ("Bundle.identifier", "bdl-9")),
    (bundle("document", {"resource": COMPOSITION}, identifier={"value": "x"},
            timestamp="2024-03-01T10:00:00Z"), ("Bundle.identifier", "bdl-9")),
    (bundle("document", {"resource": COMPOSITION}, identifier=DOC_OK["identifier"]),
     ("Bundle.timestamp", "bdl-10")),
    (bundle("document", ENTRY, **DOC_OK), ("Bundle.entry[0]", "bdl-11")),
    (bundle("document", {"resource": COMPOSITION}, ENTRY, **DOC_OK), None),
    (bundle("message", ENTRY), ("Bundle.entry[0]", "bdl-12")),
    (bundle("collection", {"fullUrl": "urn:uuid:8f1b7c1e-0000-4000-8000-000000000002"}),
     ("Bundle.entry[0]", "bdl-5")),
    (bundle("collection", {**ENTRY, "fullUrl": "http://x.org/fhir/Patient/1/_history/2"}),
     ("Bundle.entry[0].fullUrl", "bdl-8")),
    # ctm-1
    ({"resourceType": "CareTeam", "participant": [{"member": PAT, "onBehalfOf": {
        "reference": "Organization/o"}}]}, ("CareTeam.participant[0].onBehalfOf", "ctm-1")),
    ({"resourceType": "CareTeam", "participant": [{"member": {"identifier": {"value": "x"}},
                                                   "onBehalfOf": {"reference": "Organization/o"}}
                                                  ]}, None),
    ({"resourceType": "CareTeam", "contained": [{"resourceType": "Practitioner", "id": "pr"}],
      "participant": [{"member": {"reference": "#pr"}, "onBehalfOf": {
          "reference": "Organization/o"}}]}, None),
    # sqty-1 (Range.low inside a Goal target; referenceRange)
    ({"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "x"},
      "subject": PAT, "target": [{"measure": {"text": "x"}, "detailRange": {
          "low": {"value": 1, "comparator": ">"}}}]},
     ("Goal.target[0].detailRange.low.comparator", "sqty-1")),
    ({"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "x"},
      "subject": PAT, "target": [{"measure": {"text": "x"}, "detailQuantity": {
          "value": 1, "comparator": ">"}}]}, None),  # a Quantity may have one
    # cnt-3
    ({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "component": [{"code": {"text": "c"}, "valueQuantity": {"value": 1}}],
      "extension": [{"url": "http://x.org/c", "valueCount": {
          "value": 2.5, "system": "http://unitsofmeasure.org", "code": "1"}}]},
     ("Observation.extension[0].valueCount.value", "cnt-3")),
    ({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
      "extension": [{"url": "http://x.org/c", "valueCount": {
          "value": 2, "system": "http://unitsofmeasure.org", "code": "kg"}}]},
     ("Observation.extension[0].valueCount.code", "cnt-3")),
    # Parameters inv-1
    ({"resourceType": "Parameters", "parameter": [{"name": "a"}]},
     ("Parameters.parameter[0]", "inv-1")),
    ({"resourceType": "Parameters", "parameter": [{"name": "a", "valueString": "x",
                                                   "part": [{"name": "b", "valueString": "y"}]}]},
     ("Parameters.parameter[0]", "inv-1")),
    ({"resourceType": "Parameters", "parameter": [{"name": "a", "part": [
        {"name": "b", "valueString": "y"}]}]}, None),
    # drq-1, trd-1..3 (datatypes of extension values)
    ({"resourceType": "Patient", "extension": [{"url": "http://x.org/d", "valueDataRequirement": {
        "type": "Patient", "codeFilter": [{"path": "a", "searchParam": "b"}]}}]},
     ("Patient.extension[0].valueDataRequirement.codeFilter[0]", "drq-1/drq-2")),
    ({"resourceType": "Patient", "extension": [{"url": "http://x.org/t",
                                                "valueTriggerDefinition": {
                                                    "type": "named-event"}}]},
     ("Patient.extension[0].valueTriggerDefinition", "trd-3")),
    # contained-only types
    ({"resourceType": "CareTeam", "contained": [{"resourceType": "Group", "id": "g",
                                                 "type": "person", "actual": False,
                                                 "member": [{"entity": PAT}]}],
      "subject": {"reference": "#g"}}, ("CareTeam.contained[0].member", "grp-1")),
]


@pytest.mark.parametrize("resource,expected", CASES,
                         ids=[str(c[1]) if c[1] else f"ok-{i}" for i, c in enumerate(CASES)])
def test_invariant(resource, expected):
    found = _keys(resource)
    if expected is None:
        assert not found, found
    else:
        assert expected in found, found
