"""Fixtures of the insurer-flow tests: an insurer partner for the River case's payer, the
case itself, helpers to read the case, the FHIR store and the outbox."""

from __future__ import annotations

from pathlib import Path

import fhir_validator
import outbox_query
import pytest
from case_data import river
from sqlalchemy import select, update

from hub.store.sync_tables import outbox
from hub.store.uow import UnitOfWork
from hub.sync.outbox import utcnow
from hub.sync.partners import Partner, Timeouts
from hub.sync.registry import Adapters

ORG = "Organization/example-health"
PARTNER = "example-health-pas"
FUNDING = "health-insurance"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def insurer_partner(base_url: str = "http://127.0.0.1:9/fhir") -> Partner:
    return Partner(id=PARTNER, kind="insurer", base_url=base_url, organization=ORG,
                   timeouts=Timeouts(connect=1.0, read=3.0))


@pytest.fixture
def db(app):
    return app.extensions["hub.db"]


@pytest.fixture
def runtime(app):
    """The app's runtime (``hub.bootstrap``): its database, partners and handlers."""
    return app.extensions["hub.runtime"]


@pytest.fixture
def partners(runtime):
    """The runtime (the app and the flows' handlers) has one insurer partner for
    example-health."""
    registry = Adapters({PARTNER: insurer_partner()})
    runtime.use_adapters(registry)
    yield registry
    registry.close()


@pytest.fixture
def api(client, auth_headers):
    """The case manager's app: JSON calls with a full-scope token."""

    class Api:
        headers = auth_headers("system/*.cruds")

        def post(self, url, body, version=None, **headers):
            if version is not None:
                headers["If-Match"] = f'W/"{version}"'
            return client.post(url, json=body, headers={**self.headers, **headers})

        def get(self, url):
            return client.get(url, headers=self.headers)

    return Api()


@pytest.fixture
def case(api, partners) -> dict:
    """The River case (payer Organization/example-health), as the API answered it."""
    resp = api.post("/api/cases", river())
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def load_case(db, case_id):
    with UnitOfWork(db) as uow:
        return uow.cases.get(case_id)


def decisions(db, case_id, funding_id=FUNDING) -> dict:
    """service code -> CoverageDecision of one funding source."""
    case = load_case(db, case_id)
    funding = next(f for f in case.funding if f.id == funding_id)
    return {d.service.code: d for d in funding.decisions}


def outbox_rows(db, **where) -> list[dict]:
    return [dict(r._mapping) for r in outbox_query.outbox_rows(db, **where)]


def stored(db, rtype, rid):
    with UnitOfWork(db) as uow:
        res = uow.resources.read(rtype, rid)
        return None if res is None or res.deleted else res.content


def item(code: str, **extra) -> dict:
    return {"service": {"system": HCPCS, "code": code}, **extra}


def run_validator(resources: list[dict], tmp_path: Path | None = None) -> list[dict]:
    """The fhir-check results of failing resources (``[]`` when all PASS)."""
    results = fhir_validator.validate(resources)
    assert len(results) >= len(resources)
    return fhir_validator.failures(results)


def poll_pended_now(runtime) -> list:
    """Run the polls of pended requests now, as an executor does when they are due: make
    every pending ``poll`` row due (the others wait), run the runtime's worker until none is
    left; what each poll applied (``result``, ``state``, ``request_id``), in row order."""
    from types import SimpleNamespace

    now = utcnow()
    with runtime.db.engine.begin() as conn:
        polls = [r.id for r in conn.execute(select(outbox.c.id).where(
            outbox.c.operation == "poll", outbox.c.status == "pending"))]
        others = {r.id: r.next_attempt_at for r in conn.execute(
            select(outbox.c.id, outbox.c.next_attempt_at).where(
                outbox.c.operation != "poll", outbox.c.status == "pending"))}
        conn.execute(update(outbox).where(outbox.c.id.in_(polls)).values(next_attempt_at=now))
        conn.execute(update(outbox).where(outbox.c.id.in_(list(others))).values(
            next_attempt_at=now.replace(year=now.year + 1)))
    worker = runtime.worker("poll-test", concurrency=1)
    try:
        while worker.run_once():
            pass
    finally:
        worker.close()
        with runtime.db.engine.begin() as conn:
            for rid, due in others.items():
                conn.execute(update(outbox).where(outbox.c.id == rid).values(
                    next_attempt_at=due))
    rows = [r for r in outbox_rows(runtime.db, operation="poll") if r["id"] in polls]
    return [SimpleNamespace(**r["response"]["applied"]) for r in rows
            if (r["response"] or {}).get("applied")]
