"""Deterministic ids and hub identifiers: re-mapping never creates new resources."""

import uuid

from scenarios import river

from hub.mappings.case_bundle import case_to_bundle, case_to_fhir
from hub.mappings.codes import HUB_CANONICAL
from hub.mappings.identity import (
    conditional_create_query,
    find_hub_identifier,
    hub_identifier,
    resource_id,
)


def test_resource_id_is_stable_uuid5_and_distinct_per_part():
    a = resource_id("case-1", "goal", "g1")
    assert a == resource_id("case-1", "goal", "g1")
    assert uuid.UUID(a).version == 5
    assert len({a, resource_id("case-1", "goal", "g2"), resource_id("case-2", "goal", "g1"),
                resource_id("case-1", "condition", "g1"), resource_id("case-1", "goal")}) == 5


def test_hub_identifier_and_lookup():
    ident = hub_identifier("case-1", "goal", "g1")
    assert ident["system"] == f"{HUB_CANONICAL}/NamingSystem/goal"
    assert ident["value"] == "case-1/g1"
    assert find_hub_identifier({"identifier": [ident]}, "goal", "case-1") == "g1"
    assert find_hub_identifier({"identifier": [ident]}, "goal", "case-2") is None
    assert conditional_create_query(ident) == (
        f"identifier={HUB_CANONICAL}/NamingSystem/goal|case-1/g1")


def test_remapping_the_same_case_gives_the_same_resources():
    first, second = case_to_fhir(river()), case_to_fhir(river())
    assert first == second
    keys = [(r["resourceType"], r["id"]) for r in first]
    assert len(keys) == len(set(keys))
    for r in first:
        assert any(i["system"].startswith(f"{HUB_CANONICAL}/NamingSystem/")
                   for i in r.get("identifier", [])), r["resourceType"]


def test_bundle_puts_by_id():
    bundle = case_to_bundle(river(), base_url="http://hub.test/fhir")
    assert bundle["type"] == "transaction"
    for e in bundle["entry"]:
        r = e["resource"]
        assert e["request"] == {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}
        assert e["fullUrl"] == f"http://hub.test/fhir/{r['resourceType']}/{r['id']}"
