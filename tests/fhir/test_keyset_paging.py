"""Keyset paging: every row present when a search started is returned exactly once, while
other requests create and update rows between (and during) the page requests."""

import threading

import pytest
from bundle_pages import follow, match_ids, page_link, page_while_writing
from fhirapi_helpers import patient

from hub.fhirstore import keyset


def _touch(fhir, rid: str, n: int) -> None:
    resp = fhir.put(f"/fhir/Patient/{rid}", {**patient(rid), "id": rid,
                                             "gender": ("male", "female", "other")[n % 3]})
    assert resp.status_code == 200


@pytest.mark.parametrize("settle", [None, 0.0])
@pytest.mark.parametrize("sort", ["", "&_sort=_lastUpdated", "&_sort=-_lastUpdated",
                                  "&_sort=_id"])
def test_paging_under_writes_returns_each_row_exactly_once(fhir, sort, settle, monkeypatch):
    if settle is not None:  # snapshot at the first page: rows updated later keep their place
        monkeypatch.setattr(keyset, "SETTLE", settle)
    initial = [fhir.put(f"/fhir/Patient/k{i:02d}", {**patient(f"k{i:02d}"), "id": f"k{i:02d}"}
                        ).get_json()["id"] for i in range(53)]
    page = fhir.get(f"/fhir/Patient?_count=10{sort}").get_json()
    # between pages: update rows already read and rows still to come, create new ones
    seen, pages = page_while_writing(
        fhir, page, initial, touch=lambda rid, step: _touch(fhir, rid, step),
        create=lambda pages: fhir.create(patient(f"new{pages}")))
    assert pages >= 6
    # order holds: by the sort key each row had when the search started
    if "_id" in sort:
        assert [r for r in seen if r in initial] == sorted(initial)
    elif sort.startswith("&_sort=-"):
        assert [r for r in seen if r in initial] == list(reversed(initial))
    else:
        assert [r for r in seen if r in initial] == initial


def test_previous_links_walk_back_over_the_same_pages(fhir):
    for i in range(25):
        fhir.put(f"/fhir/Patient/b{i:02d}", {**patient(), "id": f"b{i:02d}"})
    forward = follow(fhir, fhir.get("/fhir/Patient?_count=7").get_json(), "next")
    assert [len(match_ids(p)) for p in forward] == [7, 7, 7, 4]
    assert page_link(forward[0], "previous") is None and page_link(forward[-1], "next") is None
    _touch(fhir, "b00", 1)  # an update while paging does not move b00 out of page 1
    back = follow(fhir, forward[-1], "previous")
    assert [match_ids(p) for p in reversed(back)] == [match_ids(p) for p in forward]
    # the self link of a page gives that page again
    again = fhir.get(page_link(forward[2], "self")).get_json()
    assert match_ids(again) == match_ids(forward[2])


def test_a_concurrent_writer_while_paging(fhir, client, auth_headers):
    """A writer thread creates and updates rows the whole time the search pages."""
    initial = [fhir.put(f"/fhir/Patient/c{i:02d}", {**patient(), "id": f"c{i:02d}"}
                        ).get_json()["id"] for i in range(60)]
    # a second client of the same app, like the ``fhir`` fixture's, for the writer thread
    writer = type(fhir)(client.application.test_client(), auth_headers(), [])
    stop = threading.Event()
    errors: list[str] = []

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            rid = initial[(n * 7) % len(initial)]
            resp = writer.put(f"/fhir/Patient/{rid}", {**patient(), "id": rid,
                                                       "gender": "other" if n % 2 else "male"})
            if resp.status_code not in (200, 409):
                errors.append(resp.get_data(as_text=True))
            writer.post("/fhir/Patient", patient(f"w{n}"))

    thread = threading.Thread(target=write)
    thread.start()
    try:
        pages = follow(fhir, fhir.get("/fhir/Patient?_count=8&_sort=_lastUpdated").get_json(),
                       "next")
        seen = [rid for page in pages for rid in match_ids(page)]
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert len(seen) == len(set(seen))
    assert set(initial) <= set(seen)
