"""Issue 9.1 (ids), as the attacker tries it: computing resource ids from a case id.

The case id is printed in every hub identifier. Without the hub's secret id key the
resource ids of a case cannot be derived from it (the old UUIDv5 over a public namespace
no longer names anything), while the hub itself still derives the same ids every time.
"""

import uuid

from partner_world import AGENCY_A

from hub.mappings import identity


def _public_uuid5(case_id: str, kind: str) -> str:
    return str(uuid.uuid5(identity.HUB_NAMESPACE, f"{case_id}/{kind}"))


def _case(client, headers) -> dict:
    from case_data import minimal

    resp = client.post("/api/cases", json=minimal(), headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_ids_of_a_case_are_not_derivable_from_its_identifiers(app, client, auth_headers,
                                                              fhir, fhir_as):
    case = _case(client, auth_headers("system/*.cruds"))
    episodes = fhir.get("/fhir/EpisodeOfCare").get_json()["entry"]
    (episode,) = [e["resource"] for e in episodes]
    assert any(i["value"] == case["id"] for i in episode["identifier"])  # public
    guesses = {_public_uuid5(case["id"], kind) for kind in ("case", "patient")}
    attacker = fhir_as("system/*.cruds", organization=AGENCY_A)
    for guess in guesses:
        assert fhir.get(f"/fhir/Patient/{guess}").status_code == 404
        assert fhir.get(f"/fhir/EpisodeOfCare/{guess}").status_code == 404
        assert attacker.get(f"/fhir/Patient/{guess}").status_code == 404
    # the hub derives the same ids again: keyed, deterministic, UUID-shaped
    assert episode["id"] == identity.resource_id(case["id"], "case")
    assert uuid.UUID(episode["id"]).version == 4
    assert episode["id"] not in guesses


def test_the_key_is_what_makes_the_id():
    saved = identity._id_key
    try:
        identity.use_key("key-one")
        one = identity.resource_id("case-1", "patient")
        assert one == identity.resource_id("case-1", "patient")
        identity.use_key("key-two")
        assert identity.resource_id("case-1", "patient") != one
        assert one != _public_uuid5("case-1", "patient")
    finally:
        identity.use_key(saved)


def test_keyed_ids_are_those_of_the_uuid_formula():
    """The ids of stored resources never change: ``resource_id`` (its UUID worked out from
    the HMAC's bytes directly) gives what ``uuid.UUID(bytes=..., version=4)`` gave."""
    import hashlib
    import hmac
    import random

    rng = random.Random(13)
    saved = identity._id_key
    try:
        for _ in range(300):
            key = rng.randbytes(rng.randint(1, 64))
            identity.use_key(key)
            case_id = rng.randbytes(rng.randint(0, 40)).hex()
            kind, part = rng.choice(["case", "goal", "care-team-member"]), rng.choice(
                [None, "g1", "ü/2", rng.randbytes(8).hex()])
            name = f"{case_id}/{kind}" if part is None else f"{case_id}/{kind}/{part}"
            digest = hmac.new(key, name.encode(), hashlib.sha256).digest()
            assert identity.resource_id(case_id, kind, part) == str(
                uuid.UUID(bytes=digest[:16], version=4))
    finally:
        identity.use_key(saved)
