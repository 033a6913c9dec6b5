"""A case read decodes the stored document from its JSON text (``case_codec.decode_text``):
the same case as parsing the text to a dict and decoding that, and the same answer bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from case_data import river
from pydantic import ValidationError

from hub.fhirjson import codec
from hub.store import case_codec
from hub.store.case_tables import cases

V0 = Path(__file__).parent / "fixtures" / "stored_cases_v0.json"


def _texts() -> list[str]:
    """Current documents' texts as the store writes them (``codec.dumps`` of ``encode``)."""
    return [codec.dumps(case_codec.encode(case_codec.decode(stored["document"])))
            for stored in json.loads(V0.read_text())]


def _dict_way(text: str):
    return case_codec.decode(codec.loads(text))


def _parsed(monkeypatch) -> list[str]:
    """The texts ``decode_text`` parses to a dict (the one-pass way not taken)."""
    seen: list[str] = []
    loads = codec.loads
    monkeypatch.setattr(codec, "loads", lambda raw, **kw: seen.append(raw) or loads(raw, **kw))
    return seen


def test_current_documents_decode_from_their_text_in_one_pass(monkeypatch):
    texts = _texts()
    expected = [_dict_way(t) for t in texts]
    parsed = _parsed(monkeypatch)
    assert [case_codec.decode_text(t) for t in texts] == expected
    assert parsed == []


def test_other_texts_take_the_dict_way_with_the_same_result(monkeypatch):
    text = _texts()[0]
    head = text.removeprefix('{"schema_version":1,')
    first_note = json.loads(text)["notes"][0]["text"]
    variants = {
        # decimals in int fields: 1.00 and 7.0 are 1 and 7 both ways (one pass, no dict)
        "decimals": text.replace('"version":7', '"version":7.00'),
        # a lone surrogate escape: Python's parser keeps it, the one pass refuses it
        "surrogate": text.replace(json.dumps(first_note), '"\\ud800 lone"'),
        # schema_version named twice (a last one would win in the dict): the dict's way
        "twice": text[:-1] + ',"schema_version":1}',
        "not compact": '{"schema_version": 1, ' + head,
        "version 0": "{" + head,
    }
    expected = {name: _dict_way(t) for name, t in variants.items()}
    assert expected["decimals"].version == 7
    assert expected["surrogate"].notes[0].text == "\ud800 lone"
    parsed = _parsed(monkeypatch)
    assert {name: case_codec.decode_text(t) for name, t in variants.items()} == expected
    assert parsed == [variants[n] for n in ("surrogate", "twice", "not compact", "version 0")]


@pytest.mark.parametrize("text, error", [
    ('{"schema_version":2,"id":"x"}', case_codec.UnknownSchemaVersion),
    ('{"schema_version":1,"id":"x"}', ValidationError),  # not a case
    ('{"schema_version":1,"id":', ValueError),  # not JSON
    ('{"schema_version":1,"id":NaN}', ValueError),  # not JSON to the hub's codec
])
def test_texts_that_failed_fail_as_before(text, error):
    with pytest.raises(error) as before:
        _dict_way(text)
    with pytest.raises(error) as now:
        case_codec.decode_text(text)
    assert type(now.value) is type(before.value)
    assert str(now.value) == str(before.value)


@pytest.fixture
def h(auth_headers):
    return auth_headers("system/Case.cruds")


def test_a_read_answers_what_the_write_answered(app, client, h):
    """The read of a version this process did not render (its rendered versions dropped):
    the stored text decoded, rendered anew; the same bytes and ETag as the create's 201."""
    created = client.post("/api/cases", json=river(), headers=h)
    assert created.status_code == 201
    app.extensions.pop("hub.rendered_cases")
    read = client.get(f"/api/cases/{created.get_json()['id']}", headers=h)
    assert read.status_code == 200
    assert read.get_data() == created.get_data()
    assert read.headers["ETag"] == created.headers["ETag"] == 'W/"1"'
    with app.extensions["hub.db"].engine.connect() as conn:
        text = conn.execute(sa.select(sa.cast(cases.c.document, sa.Text))).scalar_one()
    assert text.startswith('{"schema_version":1,')  # the one pass was taken
