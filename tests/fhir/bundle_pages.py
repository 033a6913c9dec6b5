"""Following the paging links of searchset Bundles in the FHIR API tests."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit


def page_link(bundle: dict, rel: str) -> str | None:
    """The path and query of the Bundle's ``rel`` link (None when it has none)."""
    for link in bundle["link"]:
        if link["relation"] == rel:
            parts = urlsplit(link["url"])
            return f"{parts.path}?{parts.query}"
    return None


def match_ids(bundle: dict) -> list[str]:
    """The ids of the Bundle's match entries, in order."""
    return [e["resource"]["id"] for e in bundle.get("entry", [])
            if e["search"]["mode"] == "match"]


def follow(fhir, page: dict, rel: str) -> list[dict]:
    """``page`` and each page its ``rel`` links lead to, in turn."""
    pages = [page]
    while (nxt := page_link(pages[-1], rel)) is not None:
        pages.append(fhir.get(nxt).get_json())
    return pages


def page_while_writing(fhir, page: dict, initial: list[str],
                       touch: Callable[[str, int], None],
                       create: Callable[[int], None]) -> tuple[list[str], int]:
    """Follow the next links from ``page``; after each page ``touch(id, step)`` two rows of
    ``initial`` already read and three still to come, then ``create(pages)``. Asserts each
    row of ``initial`` came exactly once; (the ids seen in order, the number of pages)."""
    seen: list[str] = []
    pages, step = 0, 0
    while True:
        pages += 1
        seen += match_ids(page)
        done = [r for r in initial if r in seen]
        todo = [r for r in initial if r not in seen]
        for rid in done[:2] + todo[:1] + todo[-2:]:
            step += 1
            touch(rid, step)
        create(pages)
        nxt = page_link(page, "next")
        if nxt is None:
            break
        page = fhir.get(nxt).get_json()
    assert len(seen) == len(set(seen)), "a row was returned twice"
    assert set(initial) <= set(seen), f"rows skipped: {set(initial) - set(seen)}"
    return seen, pages
