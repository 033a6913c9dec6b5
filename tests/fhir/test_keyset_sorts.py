"""Keyset paging for every supported ``_sort`` (search parameters, several keys, either
direction, rows without a value): each row present when the search started is returned
exactly once, in the order of the sort keys it had then, while rows are updated (their sort
keys changed too) and created between the page requests; previous links walk back over the
same pages. ``_offset`` still pages by offset."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from bundle_pages import follow, match_ids, page_link, page_while_writing
from fhirapi_helpers import patient

from hub.fhirstore import keyset

N = 41


def _family(i: int) -> str:
    return f"Fam{(i * 7) % N:02d}"


def _birth(i: int) -> str:
    return (date(1950, 1, 1) + timedelta(days=(i * 13) % 17)).isoformat()


def _row(i: int, family: str | None = None, birth: str | None = None, n: int = 0) -> dict:
    res = {**patient(f"s{i:02d}", family=family or _family(i)), "id": f"s{i:02d}",
           "gender": ("male", "female", "other")[i % 3], "birthDate": birth or _birth(i)}
    if i % 5 == 0:  # rows without a birth date sort last in either direction
        del res["birthDate"]
    if n:
        res["active"] = bool(n % 2)
    return res


def _initial_order(sort: str, n: int = N) -> list[str]:
    """The ids in the order the sort keys of the initial rows give (nulls last)."""
    rows = {f"s{i:02d}": _row(i) for i in range(n)}
    keys = sort.split(",")

    def value(rid: str, key: str):
        res, name = rows[rid], key.lstrip("-")
        v = {"family": res["name"][0]["family"].lower(), "birthdate": res.get("birthDate"),
             "gender": res["gender"], "_id": rid}[name]
        return v

    ordered = sorted(rows, key=lambda rid: rid)
    for key in reversed(keys):  # stable sorts, least significant first
        desc = key.startswith("-")
        present = [r for r in ordered if value(r, key) is not None]
        missing = [r for r in ordered if value(r, key) is None]
        present.sort(key=lambda r, k=key: value(r, k), reverse=desc)
        ordered = present + missing
    return ordered


@pytest.mark.parametrize("settle", [None, 0.0])
@pytest.mark.parametrize("sort", ["family", "-family", "birthdate", "-birthdate",
                                  "gender,-birthdate", "-gender,family,_id"])
def test_sorted_paging_under_writes_returns_each_row_exactly_once(fhir, sort, settle,
                                                                    monkeypatch):
    if settle is not None:
        monkeypatch.setattr(keyset, "SETTLE", settle)
    initial = [fhir.put(f"/fhir/Patient/s{i:02d}", _row(i)).get_json()["id"] for i in range(N)]
    page = fhir.get(f"/fhir/Patient?_count=6&_sort={sort}").get_json()
    assert "_offset" not in (page_link(page, "next") or "")  # keyset links, not offsets

    def touch(rid: str, step: int) -> None:  # moves the row to the other end of the order
        resp = fhir.put(f"/fhir/Patient/{rid}", _row(
            int(rid[1:]), family=("Aaa", "Zzz")[step % 2],
            birth=("1900-01-01", "2020-01-01")[step % 2], n=step))
        assert resp.status_code == 200

    seen, pages = page_while_writing(
        fhir, page, initial, touch=touch, create=lambda pages: fhir.create(
            {**patient(f"new{pages}", family="Mmm"), "birthDate": "1960-01-01"}))
    assert pages >= 7
    assert [r for r in seen if r in initial] == _initial_order(sort)


@pytest.mark.parametrize("sort", ["-birthdate", "family,_id"])
def test_previous_links_walk_back_over_the_same_sorted_pages(fhir, sort):
    for i in range(N):
        fhir.put(f"/fhir/Patient/s{i:02d}", _row(i))
    forward = follow(fhir, fhir.get(f"/fhir/Patient?_count=9&_sort={sort}").get_json(), "next")
    assert [len(match_ids(p)) for p in forward] == [9, 9, 9, 9, 5]
    assert [r for p in forward for r in match_ids(p)] == _initial_order(sort)
    fhir.put("/fhir/Patient/s00", _row(0, family="Zzz", birth="2020-01-01"))
    back = follow(fhir, forward[-1], "previous")
    assert [match_ids(p) for p in reversed(back)] == [match_ids(p) for p in forward]


def test_offset_paging_is_kept_when_asked_for(fhir):
    for i in range(12):
        fhir.put(f"/fhir/Patient/s{i:02d}", _row(i))
    page = fhir.get("/fhir/Patient?_count=5&_sort=family&_offset=5").get_json()
    assert match_ids(page) == _initial_order("family", 12)[5:10]
    assert "_offset=10" in page_link(page, "next")


@pytest.mark.parametrize("sort", ["-birthdate,family", "gender,-birthdate", "-family"])
def test_offset_pages_follow_the_sort_keys(fhir, sort):
    """``_offset`` pages (one grouped pass over the index per sort key, not a subquery per
    row) give the order of the sort keys, several keys, either direction, nulls last."""
    for i in range(N):
        fhir.put(f"/fhir/Patient/s{i:02d}", _row(i))
    seen = []
    for offset in range(0, N, 8):
        page = fhir.get(f"/fhir/Patient?_count=8&_sort={sort}&_offset={offset}").get_json()
        seen += match_ids(page)
    assert seen == _initial_order(sort)
