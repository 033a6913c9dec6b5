"""Deterministic identity of every resource the hub produces from a case.

Resource ids are derived from ``(case id, kind, part id)``: with the hub's id key installed
(``use_key``: done at start by every process, the key from HUB_ID_KEY or kept in the
database) an HMAC-SHA256 of that name under the key, shaped as a UUID; without one (pure
mapping tests) the UUIDv5 over a hub namespace. The case id is printed in every hub
identifier, so only the key keeps ids from being derived from public data. Each produced
resource also carries a hub business identifier ``{system: HUB_CANONICAL/NamingSystem/<kind>,
value: "<case id>" or "<case id>/<part id>"}``. Re-mapping a case therefore yields the same ids
and identifiers, so re-sending is a PUT by id or a conditional create on the identifier and
never creates duplicates.

Kinds used: ``case`` (EpisodeOfCare), ``patient``, ``condition``, ``goal``, ``careplan``,
``careteam``, ``care-team-member`` (Practitioner/PractitionerRole/Organization/RelatedPerson
of a member), and for the funding/encounter/referral mappings ``coverage``, ``payer``,
``encounter``, ``referral`` (the referral ServiceRequest, part id = Referral.id), ``task``,
... -- any kind name works the same way.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from hub.mappings.codes import HUB_CANONICAL, hub_naming_system

#: Namespace of hub resource ids when no id key is installed.
HUB_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, HUB_CANONICAL)
_id_key: bytes | None = None


def use_key(key: str | bytes | None) -> None:
    """Install the secret key of resource ids for this process (None: the public UUIDv5)."""
    global _id_key
    _id_key = key.encode() if isinstance(key, str) else key


def resource_id(case_id: str, kind: str, part_id: str | None = None) -> str:
    """The FHIR id of the resource of ``kind`` for ``part_id`` of case ``case_id``."""
    name = f"{case_id}/{kind}" if part_id is None else f"{case_id}/{kind}/{part_id}"
    if _id_key is None:
        return str(uuid.uuid5(HUB_NAMESPACE, name))
    return _as_uuid4(hmac.digest(_id_key, name.encode(), "sha256"))


def _as_uuid4(digest: bytes) -> str:
    """``str(uuid.UUID(bytes=digest[:16], version=4))`` without the UUID object: the version
    nibble set to 4 and the variant bits to RFC 4122's, in hex, grouped 8-4-4-4-12."""
    raw = bytearray(digest[:16])
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def identifier_value(case_id: str, part_id: str | None = None) -> str:
    return case_id if part_id is None else f"{case_id}/{part_id}"


def hub_identifier(case_id: str, kind: str, part_id: str | None = None) -> dict[str, Any]:
    """The hub business identifier of a produced resource."""
    return {"use": "secondary", "system": hub_naming_system(kind),
            "value": identifier_value(case_id, part_id)}


def is_hub_system(system: str | None) -> bool:
    return system is not None and system.startswith(f"{HUB_CANONICAL}/NamingSystem/")


def reference(resource_type: str, case_id: str, kind: str, part_id: str | None = None,
              display: str | None = None, with_identifier: bool = True) -> dict[str, Any]:
    """A Reference to a produced resource, carrying its hub identifier as well."""
    ref: dict[str, Any] = {"reference": f"{resource_type}/{resource_id(case_id, kind, part_id)}"}
    if with_identifier:
        ref["identifier"] = hub_identifier(case_id, kind, part_id)
    if display:
        ref["display"] = display
    return ref


def part_id_from_identifier(identifier: dict[str, Any] | None, kind: str, case_id: str | None) -> str | None:
    """The part id in a hub identifier of ``kind`` (of case ``case_id`` if given)."""
    if not identifier or identifier.get("system") != hub_naming_system(kind):
        return None
    value = identifier.get("value") or ""
    if case_id is None:
        return value
    prefix = f"{case_id}/"
    return value[len(prefix):] if value.startswith(prefix) else None


def find_hub_identifier(resource: dict[str, Any], kind: str, case_id: str | None = None) -> str | None:
    """The part id (or the case id for case-level kinds) in a resource's hub identifier."""
    for ident in resource.get("identifier") or []:
        found = part_id_from_identifier(ident, kind, case_id)
        if found is not None:
            return found
    return None


def conditional_create_query(identifier: dict[str, Any]) -> str:
    """``If-None-Exist`` search for a hub identifier: ``identifier=system|value``."""
    return f"identifier={identifier['system']}|{identifier['value']}"
