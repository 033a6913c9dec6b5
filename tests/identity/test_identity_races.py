"""One patient per identity under concurrency: 8 parallel creates of the same MRN (FHIR)
and 8 parallel openings of the same patient's case (case API) -> exactly one each."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from case_data import river

from hub.fhirstore.tables import resources as R
from hub.store.case_tables import cases

PARALLEL = 8


def in_parallel(app, send) -> list[int]:
    """``send(client)`` from PARALLEL threads released together; their status codes."""
    barrier = threading.Barrier(PARALLEL)
    codes: list[int] = []
    lock = threading.Lock()

    def run():
        client = app.test_client()
        barrier.wait()
        code = send(client)
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=run) for _ in range(PARALLEL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(codes) == PARALLEL
    return sorted(codes)


def test_parallel_fhir_creates_of_one_mrn_make_one_patient(app, auth_headers):
    h = {**auth_headers("system/Patient.cruds"), "Content-Type": "application/fhir+json"}
    body = {"resourceType": "Patient", "name": [{"family": "Race"}],
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5.1", "value": "RACE-1"}]}
    codes = in_parallel(app, lambda c: c.post("/fhir/Patient", json=body,
                                              headers=h).status_code)
    assert codes == [201] + [409] * (PARALLEL - 1)
    with app.extensions["hub.db"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(R).where(
            R.c.res_type == "Patient")).scalar_one() == 1


def test_parallel_case_openings_make_one_case_and_one_patient(app, auth_headers):
    h = auth_headers("system/Case.cruds")
    codes = in_parallel(app, lambda c: c.post("/api/cases", json=river(),
                                              headers=h).status_code)
    assert codes == [201] + [409] * (PARALLEL - 1)
    with app.extensions["hub.db"].engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(cases)).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(R).where(
            R.c.res_type == "Patient", R.c.current.is_(True))).scalar_one() == 1
