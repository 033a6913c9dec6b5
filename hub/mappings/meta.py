"""``Resource.meta``: what the server manages and how a resource is seen without it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: The meta elements a FHIR server sets on each version it stores.
SERVER_META = ("versionId", "lastUpdated")


def strip_meta(resource: dict[str, Any],
               keys: Iterable[str] | None = SERVER_META) -> dict[str, Any]:
    """A shallow copy of ``resource`` without the ``keys`` of its meta (all of meta if None).

    By default the server-managed elements go and the rest (profile, tag, security,
    source) stays; an emptied meta is dropped. ``resourceType``, ``id`` and ``meta`` stay
    first, in that order.
    """
    meta = resource.get("meta")
    kept = {} if keys is None or not isinstance(meta, dict) else {
        k: v for k, v in meta.items() if k not in set(keys)}
    head: dict[str, Any] = {k: resource[k] for k in ("resourceType", "id") if k in resource}
    if kept:
        head["meta"] = kept
    return {**head, **{k: v for k, v in resource.items()
                       if k not in ("resourceType", "id", "meta")}}
