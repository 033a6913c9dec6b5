"""The submission use cases: one transaction (case version, FHIR request resources, outbox
row) or nothing at all."""

from __future__ import annotations

import pytest

from hub import cases as c
from hub.errors import BusinessRuleFailed, Conflict, PreconditionFailed
from hub.flows import insurer as flows
from hub.mappings.identity import resource_id
from hub.store.uow import UnitOfWork

from .conftest import FUNDING, HCPCS, ORG, PARTNER, decisions, load_case, outbox_rows, stored

D = c.DecisionStatus


def _uow(db, partners):
    return UnitOfWork(db, partners=partners.partners)


def _items(*codes, **extra):
    return [flows.ItemInput(service=c.Code(HCPCS, code), **extra) for code in codes]


def _snapshot(db, case_id):
    with UnitOfWork(db) as uow:
        from sqlalchemy import func, select

        from hub.fhirstore.tables import resources as R
        count = uow.session.execute(select(func.count()).select_from(R)).scalar_one()
    return load_case(db, case_id).version, count, len(outbox_rows(db))


def test_prior_authorization_is_one_transaction(db, partners, case):
    before = len(outbox_rows(db))
    with _uow(db, partners) as uow:
        sub = flows.request_prior_authorization(uow, case["id"], FUNDING,
                                                _items("S9500", "G0299", quantity=12),
                                                expected_version=case["version"], by="cm")
    assert sub.case.version == case["version"] + 1
    assert load_case(db, case["id"]).version == case["version"] + 1
    got = decisions(db, case["id"])
    assert got["S9500"].status == D.AUTH_SUBMITTED and got["G0299"].quantity == 12
    claim = stored(db, "Claim", sub.resource_id)
    assert claim["use"] == "preauthorization" and claim["insurer"]["reference"] == ORG
    assert sub.resource_id == resource_id(case["id"], "pas-claim", sub.id)
    assert [i["extension"][0]["valueString"] for i in claim["item"]] == \
        [got["S9500"].id, got["G0299"].id]
    # the parties the Claim references are in the store (insurers pull from it)
    assert stored(db, "Organization", "example-health")["name"] == "Example Health Insurance"
    assert stored(db, "Practitioner", "cm-alex-morgan") is not None
    rows = outbox_rows(db, operation="submit")
    assert len(rows) == 1 and len(outbox_rows(db)) > before
    row = rows[0]
    assert (row["partner_id"], row["resource_type"], row["resource_id"], row["case_id"]) == \
        (PARTNER, "Claim", sub.resource_id, case["id"])
    assert row["options"] == {"operation": "$submit"} and row["id"] == sub.delivery_id
    bundle = row["payload"]
    assert bundle["type"] == "collection" and bundle["entry"][0]["resource"]["id"] == claim["id"]
    assert bundle["identifier"]["value"] == f"{case['id']}/{sub.id}"


def test_each_request_has_its_own_identifiers(db, partners, case):
    with _uow(db, partners) as uow:
        a = flows.request_eligibility(uow, case["id"], FUNDING, ["benefits"],
                                      [c.Code(HCPCS, "S9500")])
    with _uow(db, partners) as uow:
        b = flows.request_eligibility(uow, case["id"], FUNDING, ["benefits"],
                                      [c.Code(HCPCS, "S9500")])
    assert a.id != b.id and a.resource_id != b.resource_id
    payloads = [r["payload"] for r in outbox_rows(db, operation="submit")]
    assert [p["identifier"][0]["value"] for p in payloads] == \
        [f"{case['id']}/{a.id}", f"{case['id']}/{b.id}"]
    assert all("versionId" not in (p.get("meta") or {}) for p in payloads)


def test_eligibility_request_stores_request_note_and_delivery(db, partners, case):
    with _uow(db, partners) as uow:
        sub = flows.request_eligibility(uow, case["id"], FUNDING, ["validation", "benefits"],
                                        [c.Code(HCPCS, "G0299")], by="cm")
    req = stored(db, "CoverageEligibilityRequest", sub.resource_id)
    assert req["purpose"] == ["validation", "benefits"] and req["insurer"]["reference"] == ORG
    after = load_case(db, case["id"])
    assert after.version == case["version"] + 1
    assert sub.id in after.notes[-1].text and after.notes[-1].author == "cm"
    assert "G0299" not in decisions(db, case["id"])  # asking changes no decision
    [row] = outbox_rows(db, operation="submit")
    assert row["resource_type"] == "CoverageEligibilityRequest"


@pytest.mark.parametrize("fail", ["no-partner", "unknown-funding", "self-pay", "stale",
                                  "unresolvable-provider", "open-request"])
def test_failures_store_nothing(db, partners, case, fail):
    if fail == "open-request":
        with _uow(db, partners) as uow:
            flows.request_prior_authorization(uow, case["id"], FUNDING, _items("S9500"))
    before = _snapshot(db, case["id"])
    kwargs: dict = {}
    funding, items = FUNDING, _items("G0299", "S9500")
    if fail == "no-partner":
        partners._partners.clear()
        expected = BusinessRuleFailed
    elif fail == "unknown-funding":
        funding, expected = "nope", BusinessRuleFailed
    elif fail == "self-pay":
        funding, expected = "self-pay", BusinessRuleFailed
    elif fail == "stale":
        kwargs["expected_version"], expected = case["version"] - 1, PreconditionFailed
    elif fail == "unresolvable-provider":
        # fails while building the Bundle, after the case was bumped in the transaction
        kwargs["provider"] = c.Party("Somewhere", reference="Location/x")
        expected = BusinessRuleFailed
    else:
        expected = Conflict
    with _uow(db, partners) as uow, pytest.raises(expected) as err:
        flows.request_prior_authorization(uow, case["id"], funding, items, **kwargs)
    if fail in ("no-partner", "unknown-funding", "self-pay"):
        assert err.value.issues[0].path == "funding_id"
    if fail == "open-request":
        assert err.value.issues[0].path == "items.1.service"
    assert _snapshot(db, case["id"]) == before


def test_closed_case_cannot_request(db, partners, case, api):
    resp = api.post(f"/api/cases/{case['id']}/transitions", {"to": "cancelled",
                                                             "reason": "moved away"},
                    version=case["version"])
    assert resp.status_code == 200
    with _uow(db, partners) as uow, pytest.raises(Conflict):
        flows.request_eligibility(uow, case["id"], FUNDING, ["validation"], [])
