"""ETags of versioned things: ``W/"3"`` made and read in one place (standard library only).

The hub's own versions (FHIR resources, cases) are integers; a partner's versions are
opaque text. ``weak_etag`` writes one, ``etag_text`` reads the version text out of any
ETag / If-Match value, ``etag_version`` reads a hub version number.
"""

from __future__ import annotations

import re

_ETAG = re.compile(r'^(?:W/)?"([^"]*)"$|^(?:W/)?([^"\s]*)$')


def weak_etag(version: object) -> str:
    """``W/"{version}"``: the ETag of a version, and the If-Match value naming it."""
    return f'W/"{version}"'


def etag_text(value: str | None) -> str | None:
    """The version text of an ETag (``W/"3"``, ``"3"``, ``3`` -> ``"3"``); None if blank.

    ValueError when ``value`` is not an entity tag.
    """
    if value is None or not value.strip():
        return None
    m = _ETAG.match(value.strip())
    if not m or not (m.group(1) or m.group(2)):
        raise ValueError(f"not an ETag: {value!r}")
    return m.group(1) or m.group(2)


def etag_version(value: str | None) -> int | None:
    """The hub version number an ETag / If-Match value names; None if blank.

    ValueError when it names no version number (``*``, ``W/"abc"``, garbage).
    """
    text = etag_text(value)
    if text is None:
        return None
    if not text.isdigit():
        raise ValueError(f"not a version ETag: {value!r}")
    return int(text)
