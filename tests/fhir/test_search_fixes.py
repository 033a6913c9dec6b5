"""Search fixes of issue 10: name covers alias, absolute references, chaining, iterate,
_summary/_elements."""

from fhirapi_helpers import organization


def _ids(bundle: dict, mode: str = "match") -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


def test_organization_name_covers_alias(fhir):
    aliased = fhir.create({**organization("Sunrise Home Health"), "alias": ["SHH Nursing"]})
    other = fhir.create(organization("Dawn Care"))
    found = fhir.get("/fhir/Organization?name=shh").get_json()
    assert _ids(found) == {f"Organization/{aliased['id']}"}
    assert _ids(fhir.get("/fhir/Organization?name=dawn").get_json()) == \
        {f"Organization/{other['id']}"}
    exact = fhir.get("/fhir/Organization?name:exact=SHH Nursing").get_json()
    assert _ids(exact) == {f"Organization/{aliased['id']}"}
