"""Paging links that stay stable, _count, _include and _revinclude."""

from bundle_pages import page_link
from fhirapi_helpers import organization, patient, service_request, task


def test_paging_follows_next_links_without_gaps_or_duplicates(fhir):
    made = {fhir.create(patient(str(i)))["id"] for i in range(7)}
    page = fhir.get("/fhir/Patient?_count=3").get_json()
    assert page["total"] == 7 and page_link(page, "self").startswith("/fhir/Patient?")
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        seen += [e["resource"]["id"] for e in page["entry"]]
        nxt = page_link(page, "next")
        if nxt is None:
            break
        # resources created while paging land after the pages already read
        if pages == 1:
            fhir.create(patient("late"))
        page = fhir.get(nxt).get_json()
    assert pages == 3
    assert len(seen) == len(set(seen)) and made <= set(seen)
    # the self link of a page gives the same page again
    again = fhir.get(page_link(page, "self")).get_json()
    assert [e["resource"]["id"] for e in again["entry"]] == \
        [e["resource"]["id"] for e in page["entry"]]
    assert page_link(page, "previous") is not None


def test_paging_with_sort_is_stable_on_ties(fhir):
    for i in range(6):
        fhir.create(patient(str(i), family="Same"))
    first = [e["resource"]["id"] for e in
             fhir.get("/fhir/Patient?_sort=family&_count=6").get_json()["entry"]]
    paged = []
    for offset in (0, 2, 4):
        body = fhir.get(f"/fhir/Patient?_sort=family&_count=2&_offset={offset}").get_json()
        paged += [e["resource"]["id"] for e in body["entry"]]
    assert paged == first


def test_count_zero_and_max(fhir):
    fhir.create(patient())
    body = fhir.get("/fhir/Patient?_count=0").get_json()
    assert body["total"] == 1 and "entry" not in body
    assert fhir.get("/fhir/Patient?_count=100000").status_code == 200


def _referral(fhir):
    fhir.put("/fhir/Organization/a1", {**organization(), "id": "a1"})
    fhir.put("/fhir/Patient/p1", {**patient(), "id": "p1"})
    sr = fhir.create(service_request("Patient/p1", "Organization/a1"))
    t = fhir.create(task("Patient/p1", f"ServiceRequest/{sr['id']}", "Organization/a1"))
    return sr, t


def _by_mode(bundle: dict, mode: str) -> set[str]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}"
            for e in bundle.get("entry", []) if e["search"]["mode"] == mode}


def test_include_focus_patient_and_star(fhir):
    sr, t = _referral(fhir)
    body = fhir.get("/fhir/Task?_include=Task:focus").get_json()
    assert _by_mode(body, "match") == {f"Task/{t['id']}"}
    assert _by_mode(body, "include") == {f"ServiceRequest/{sr['id']}"}
    assert body["total"] == 1
    body = fhir.get("/fhir/Task?_include=Task:patient&_include=Task:focus").get_json()
    assert _by_mode(body, "include") == {f"ServiceRequest/{sr['id']}", "Patient/p1"}
    body = fhir.get("/fhir/Task?_include=*").get_json()
    assert _by_mode(body, "include") == {f"ServiceRequest/{sr['id']}", "Patient/p1",
                                         "Organization/a1"}
    body = fhir.get("/fhir/Task?_include=Task:owner:Organization").get_json()
    assert _by_mode(body, "include") == {"Organization/a1"}


def test_revinclude(fhir):
    sr, t = _referral(fhir)
    # the Provenance the server wrote when the ServiceRequest was created
    (prov,) = [e["resource"] for e in fhir.get(
        f"/fhir/Provenance?target=ServiceRequest/{sr['id']}").get_json()["entry"]]
    body = fhir.get("/fhir/ServiceRequest?_revinclude=Task:focus").get_json()
    assert _by_mode(body, "include") == {f"Task/{t['id']}"}
    body = fhir.get("/fhir/ServiceRequest?_revinclude=Provenance:target"
                    "&_revinclude=Task:focus").get_json()
    assert _by_mode(body, "include") == {f"Task/{t['id']}", f"Provenance/{prov['id']}"}
    body = fhir.get("/fhir/Patient?_revinclude=*").get_json()
    assert {f"Task/{t['id']}", f"ServiceRequest/{sr['id']}"} <= _by_mode(body, "include")


def test_included_types_the_scope_cannot_read_are_left_out(fhir, fhir_as):
    _sr, _t = _referral(fhir)
    limited = fhir_as("system/Task.rs")
    body = limited.get("/fhir/Task?_include=Task:focus").get_json()
    assert _by_mode(body, "include") == set()
    assert any(e["search"]["mode"] == "outcome" for e in body["entry"])


def test_included_resources_are_current_live_and_once(fhir):
    """_include and _revinclude answer each target once, in its current version, and
    never a deleted one (the store keeps both an older version and the deletion)."""
    sr, t = _referral(fhir)
    fhir.create(task("Patient/p1", f"ServiceRequest/{sr['id']}", "Organization/a1"))
    changed = fhir.put(f"/fhir/ServiceRequest/{sr['id']}",
                       {**sr, "status": "on-hold"}).get_json()
    gone = fhir.create(service_request("Patient/p1", "Organization/a1"))
    lone = fhir.create(task("Patient/p1", f"ServiceRequest/{gone['id']}", "Organization/a1"))
    assert fhir.delete(f"/fhir/ServiceRequest/{gone['id']}").status_code in (200, 204)
    body = fhir.get("/fhir/Task?_include=Task:focus&_count=50").get_json()
    included = [e["resource"] for e in body["entry"] if e["search"]["mode"] == "include"]
    assert [(r["id"], r["meta"]["versionId"], r["status"]) for r in included] == [
        (sr["id"], changed["meta"]["versionId"], "on-hold")]
    assert fhir.delete(f"/fhir/Task/{t['id']}").status_code in (200, 204)
    body = fhir.get(f"/fhir/ServiceRequest?_id={sr['id']},{gone['id']}"
                    "&_revinclude=Task:focus").get_json()
    revincluded = _by_mode(body, "include")
    assert len(revincluded) == 1 and f"Task/{t['id']}" not in revincluded
    assert f"Task/{lone['id']}" not in revincluded


def test_included_rows_are_read_as_every_other_row(app):
    """``_include`` reads its rows by position (``repository._resource_row``): every field of
    every version, a deletion's and an update's included, is what ``_row`` reads by name."""
    from fhirapi_helpers import patient
    from sqlalchemy import select

    from hub.fhirstore.repository import _resource_row, _row
    from hub.fhirstore.tables import resources
    from hub.store.uow import UnitOfWork

    db = app.extensions["hub.db"]
    with UnitOfWork(db) as uow:
        uow.resources.create("Patient", patient("1"), "pat-r1")
        uow.resources.update("Patient", "pat-r1", {**patient("2"), "id": "pat-r1"})
        uow.resources.delete("Patient", "pat-r1")
        uow.commit()
        rows = uow.session.execute(select(resources).where(
            resources.c.res_id == "pat-r1")).all()
    fields = ("type", "id", "version_id", "last_updated", "deleted", "method", "text",
              "created")
    assert len(rows) == 3 and {row.deleted for row in rows} == {True, False}
    for row in rows:
        by_position, by_name = _resource_row(row), _row("", row)
        assert [getattr(by_position, f) for f in fields] == \
            [getattr(by_name, f) for f in fields]
        assert by_position.content == by_name.content
