"""The partners file of the test app, written from entries (the partners the hub is
configured with; ``tests/fhir/partner_world.py`` is a world of FHIR resources instead).

A test module that needs configured partners (no partner server: the outbox rows are what
it looks at) overrides the ``settings`` fixture with ``partners_settings``::

    settings = partners_settings(hospital("lakeside", organization="Organization/lakeside"))

Every partner's base URL is a closed loopback port: nothing is delivered (the test app runs
no sync worker).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlalchemy import select

from hub.store.sync_tables import outbox

NPI = "http://hl7.org/fhir/sid/us-npi"
NOWHERE = "http://127.0.0.1:9/fhir"
FHIR_JSON = "application/fhir+json"


def partner(pid: str, kind: str, receives: tuple[str, ...] = (), *,
            organization: str | None = None, identifier: str | None = None,
            poll_seconds: int = 900, **extra: Any) -> dict[str, Any]:
    """One entry of the partners file (``identifier``: ``organization_identifier``)."""
    out: dict[str, Any] = {"id": pid, "kind": kind, "protocol": "fhir", "base_url": NOWHERE,
                           "auth": {"type": "none"}, "poll_seconds": poll_seconds}
    if organization:
        out["organization"] = organization
    if identifier:
        out["organization_identifier"] = identifier
    if receives:
        out["receives"] = list(receives)
    return {**out, **extra}


def hospital(pid: str, **kw: Any) -> dict[str, Any]:
    """A hospital EHR that receives the case's CarePlan and CareTeam."""
    return partner(pid, "hospital", ("CarePlan", "CareTeam"), **kw)


def agency(pid: str, **kw: Any) -> dict[str, Any]:
    """A home-health agency with a FHIR server: it receives referrals."""
    return partner(pid, "agency", ("ServiceRequest", "Task"), **kw)


def insurer(pid: str, **kw: Any) -> dict[str, Any]:
    """An insurer: eligibility and prior-authorization requests are submitted to it."""
    return partner(pid, "insurer", **kw)


def with_partners(settings, tmp_path, *entries: dict[str, Any]):
    """``settings`` with a partners file listing ``entries``."""
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump({"partners": list(entries)}, sort_keys=False))
    settings.partners_file = str(path)
    return settings


def partners_settings(*entries: dict[str, Any]):
    """A ``settings`` fixture (over the shared one) whose partners file lists ``entries``."""

    @pytest.fixture(name="settings")
    def _settings(settings, tmp_path):
        return with_partners(settings, tmp_path, *entries)

    return _settings


def create_organization(client, headers: dict, name: str, npi: str) -> str:
    """``Organization/<server id>`` of an Organization a FHIR client creates with an NPI."""
    resp = client.post("/fhir/Organization", json={
        "resourceType": "Organization", "name": name,
        "identifier": [{"system": NPI, "value": npi}]},
        headers={**headers, "Content-Type": FHIR_JSON})
    assert resp.status_code == 201, resp.get_json()
    return f"Organization/{resp.get_json()['id']}"


def open_case(client, headers: dict, body: dict) -> str:
    """Open a case through the case API; its id."""
    resp = client.post("/api/cases", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def queued_for(app, case_id: str) -> set[tuple[str, str]]:
    """(partner, resource type) of the outbox rows of a case."""
    with app.extensions["hub.db"].engine.connect() as conn:
        return {(r.partner_id, r.resource_type) for r in conn.execute(
            select(outbox).where(outbox.c.case_id == case_id))}
