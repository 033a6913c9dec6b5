"""The pure parts of the search fixes: reference keys, cursors, chained parsing, subsets."""

from datetime import datetime

import pytest

from hub.errors import BadRequest
from hub.fhirapi.subsetting import SUBSETTED, elements_of, subset
from hub.fhirstore.query import Cursor, parse_search
from hub.fhirstore.searchparams import index_rows, reference_target

BASE = "https://hub.example.org/fhir"


@pytest.mark.parametrize("ref,key", [
    ("Patient/1", ("Patient", "1")),
    ("Patient/1/_history/3", ("Patient", "1")),
    (f"{BASE}/Patient/1", ("Patient", "1")),
    (f"{BASE}/Patient/1/_history/2", ("Patient", "1")),
    ("http://other.example.org/fhir/Patient/1",
     ("Patient", "http://other.example.org/fhir/Patient/1")),
    ("http://other.example.org/fhir/Patient/1/_history/4",
     ("Patient", "http://other.example.org/fhir/Patient/1")),
    # the same host under another path is another server
    ("https://hub.example.org/other/Patient/1",
     ("Patient", "https://hub.example.org/other/Patient/1")),
    ("#contained", None), ("urn:uuid:0b5e0a5c-2f8e-4c43-8d1c-4b0cfa4d9a2e", None),
])
def test_reference_target(ref, key):
    assert reference_target(ref, BASE) == key


def test_index_rows_keep_other_servers_absolute():
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "http://other.example.org/fhir/Patient/1"}}
    rows = {(r["param"], r.get("ref_type"), r.get("ref_id")) for r in index_rows(obs, BASE)
            if r.get("ref_type")}
    assert ("subject", "Patient", "http://other.example.org/fhir/Patient/1") in rows
    assert not any(r[2] == "1" for r in rows)


def test_cursor_round_trip_and_tampering():
    cur = Cursor(datetime(2026, 1, 2, 3, 4, 5, 6), datetime(2026, 1, 1), "abc", True)
    assert Cursor.parse(cur.token()) == cur
    by_id = Cursor(datetime(2026, 1, 2), "x-1", "x-1")
    assert Cursor.parse(by_id.token()) == by_id
    with pytest.raises(BadRequest):
        Cursor.parse("not-a-cursor")


def test_chains_parse_into_target_types():
    q = parse_search("Observation", [("subject.name", "peter")])
    [crit] = q.criteria
    assert crit.kind == "chain"
    assert {cv.type for cv in crit.values} == {"Patient", "Organization", "Practitioner"}
    q = parse_search("Observation", [("patient.name", "peter")])
    assert [cv.type for cv in q.criteria[0].values] == ["Patient"]
    with pytest.raises(BadRequest):
        parse_search("Observation", [("subject:Patient.organization.name.x", "a")])


def test_subset_keeps_mandatory_and_tags_once():
    task = {"resourceType": "Task", "id": "t", "meta": {"tag": [dict(SUBSETTED)]},
            "status": "requested", "intent": "order", "note": [{"text": "n"}],
            "description": "d"}
    out = subset(task, elements=("note",))
    assert set(out) == {"resourceType", "id", "meta", "status", "intent", "note"}
    assert out["meta"]["tag"] == [SUBSETTED]
    assert subset(task, "false") is task and subset(task) is task
    assert {"status", "intent"} <= elements_of("Task").mandatory


def test_link_query_is_the_search_encoded_with_its_place():
    """The links' query string: encoded once, then completed by each link's place."""
    from urllib.parse import urlencode

    q = parse_search("Task", [("owner", "Organization/a b"), ("status", "requested"),
                              ("_include", "Task:focus"), ("_count", "5")])
    base = urlencode([("owner", "Organization/a b"), ("status", "requested"),
                      ("_include", "Task:focus"), ("_count", "5")])
    cur = Cursor(datetime(2026, 1, 1), datetime(2026, 1, 2, 3), "t-1", before=True)
    assert q.link_query(q.offset, q.cursor) == base
    assert q.link_query(10) == base + "&_offset=10"
    assert q.link_query(0, cur) == base + "&" + urlencode([("_cursor", cur.token())])
    assert q.link_query(0) == base
