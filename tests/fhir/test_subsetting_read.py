"""``_summary`` and ``_elements`` on read and vread (R4 http.html#read): the resource
subset as a search would subset it, tagged SUBSETTED, its id, meta and mandatory elements
kept; ``_summary=false`` (or none) answers it whole and untagged; ``_summary=count`` is for
searches only (400). The subset is valid R4 (the independent validator agrees)."""

from __future__ import annotations

import fhir_validator
from fhirapi_helpers import patient

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
             "code": "SUBSETTED"}
OTHER_TAG = {"system": "http://hub.example/tags", "code": "keep"}


def _observation() -> dict:
    return {"resourceType": "Observation", "status": "final",
            "meta": {"tag": [OTHER_TAG]},
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": "Patient/p1"},
            "text": {"status": "generated",
                     "div": '<div xmlns="http://www.w3.org/1999/xhtml">Heart rate 72</div>'},
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                              "code": "/min"},
            "note": [{"text": "at rest"}], "method": {"text": "palpation"}}


def _created(fhir) -> dict:
    fhir.put("/fhir/Patient/p1", {**patient(), "id": "p1"})
    return fhir.create(_observation())


def _read_both(fhir, obs: dict, query: str) -> list[dict]:
    """The answer of read and of vread (the same), with the ETag of the version."""
    out = []
    for url in (f"/fhir/Observation/{obs['id']}?{query}",
                f"/fhir/Observation/{obs['id']}/_history/1?{query}"):
        resp = fhir.get(url)
        assert resp.status_code == 200, (url, resp.get_data(as_text=True))
        assert resp.headers["ETag"] == 'W/"1"'
        out.append(resp.get_json())
    assert out[0] == out[1]
    return out


def test_summary_modes_on_read_and_vread(fhir):
    obs = _created(fhir)
    for query in ("", "_summary=false"):
        for got in _read_both(fhir, obs, query):
            assert got == obs and SUBSETTED not in got["meta"]["tag"]
    true = _read_both(fhir, obs, "_summary=true")[0]
    assert set(true) == {"resourceType", "id", "meta", "status", "code", "subject",
                         "valueQuantity"}
    assert true["meta"]["tag"] == [OTHER_TAG, SUBSETTED]
    assert true["meta"]["versionId"] == "1"
    assert true["meta"]["lastUpdated"] == obs["meta"]["lastUpdated"]
    text = _read_both(fhir, obs, "_summary=text")[0]
    assert set(text) == {"resourceType", "id", "meta", "text", "status", "code"}
    data = _read_both(fhir, obs, "_summary=data")[0]
    assert set(data) == set(obs) - {"text"} and SUBSETTED in data["meta"]["tag"]
    fhir_validator.assert_valid([true, text, data])
    # the stored resource is untouched by a subset read
    assert fhir.get(f"/fhir/Observation/{obs['id']}").get_json() == obs


def test_elements_on_read_keep_mandatory_id_and_meta(fhir):
    obs = _created(fhir)
    got = _read_both(fhir, obs, "_elements=note,value")[0]
    assert set(got) == {"resourceType", "id", "meta", "status", "code", "note",
                        "valueQuantity"}
    assert got["meta"]["tag"] == [OTHER_TAG, SUBSETTED]
    same = _read_both(fhir, obs, "_elements=Observation.note&_elements=value")[0]
    assert same == got
    only_mandatory = _read_both(fhir, obs, "_elements=unknownThing")[0]
    assert set(only_mandatory) == {"resourceType", "id", "meta", "status", "code"}
    fhir_validator.assert_valid([got, only_mandatory])


def test_bad_summary_on_read_is_refused(fhir):
    obs = _created(fhir)
    for query in ("_summary=count", "_summary=maybe", "_summary=true&_summary=data"):
        for url in (f"/fhir/Observation/{obs['id']}?{query}",
                    f"/fhir/Observation/{obs['id']}/_history/1?{query}"):
            resp = fhir.get(url)
            assert resp.status_code == 400, url
            body = resp.get_json()
            assert body["resourceType"] == "OperationOutcome"
            assert body["issue"][0]["expression"] == ["_summary"]
