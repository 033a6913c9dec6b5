"""/api/cases over the test client: create, read, search, update, lifecycle, errors, auth."""

from __future__ import annotations

from datetime import UTC

import pytest
import sqlalchemy as sa
from case_data import minimal, physician, river

from hub.schemas import READ_ONLY_MESSAGE
from hub.store.case_tables import case_identifiers, cases


@pytest.fixture
def h(auth_headers):
    return auth_headers("system/Case.cruds")


def counts(app) -> tuple[int, int]:
    with app.extensions["hub.db"].engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                     for t in (cases, case_identifiers))


def create(client, h, body=None):
    resp = client.post("/api/cases", json=body or river(), headers=h)
    assert resp.status_code == 201, resp.get_json()
    return resp


def move(client, h, case_id, etag, to, **extra):
    return client.post(f"/api/cases/{case_id}/transitions", json={"to": to, **extra},
                       headers={**h, "If-Match": etag})


def active_case(client, h) -> tuple[str, str]:
    """The River case moved to active, with its current ETag."""
    resp = create(client, h)
    cid, etag = resp.get_json()["id"], resp.headers["ETag"]
    for to in ("assessment", "planning"):
        resp = move(client, h, cid, etag, to)
        etag = resp.headers["ETag"]
    resp = client.post(f"/api/cases/{cid}/plan/approval", json={"approved_by": physician()},
                       headers={**h, "If-Match": etag})
    assert resp.status_code == 200
    resp = move(client, h, cid, resp.headers["ETag"], "active")
    assert resp.status_code == 200, resp.get_json()
    return cid, resp.headers["ETag"]


# --- create and read ---------------------------------------------------------------------------


def test_post_river_creates_the_case(client, h, app):
    resp = create(client, h)
    body = resp.get_json()
    assert resp.headers["Location"] == f"/api/cases/{body['id']}"
    assert resp.headers["ETag"] == 'W/"1"'
    assert (body["status"], body["version"]) == ("intake", 1)
    assert body["status_history"][0]["status"] == "intake"
    assert body["next_review_due"] is not None
    assert body["plan"]["activities"][0]["frequency"] == {"count": 3, "period": 1, "unit": "wk"}
    got = client.get(resp.headers["Location"], headers=h)
    assert got.status_code == 200 and got.headers["ETag"] == 'W/"1"'
    assert got.get_json() == body
    assert counts(app) == (1, 2)


def test_read_unknown_case_is_404(client, h):
    assert client.get("/api/cases/nope", headers=h).status_code == 404


# --- validation: 400 / 415 / 422 and nothing stored ------------------------------------------


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", "null", '"text"', ""])
def test_malformed_or_non_object_body_is_400(client, h, app, data):
    resp = client.post("/api/cases", data=data, content_type="application/json", headers=h)
    assert resp.status_code == 400 and resp.get_json()["status"] == 400
    assert counts(app) == (0, 0)


def test_non_json_body_is_415(client, h, app):
    resp = client.post("/api/cases", data="x=1", headers=h,
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 415 and counts(app) == (0, 0)


def test_invalid_case_names_every_failing_field(client, h, app):
    body = river()
    body["patient"]["name"].pop("family")
    body["plan"]["goals"][0]["target_date"] = "31/12/2026"
    body["model"] = "case-work"
    body["setting"] = 3
    body["plan"]["activities"][4]["performer"] = "ghost"
    body["status"] = "active"
    resp = client.post("/api/cases", json=body, headers=h)
    assert resp.status_code == 422
    problem = resp.get_json()
    assert problem["status"] == 422 and problem["message"] == "6 invalid fields"
    assert set(problem["errors"]) == {"patient.name.family", "plan.goals.0.target_date",
                                      "model", "setting", "plan.activities.4.performer",
                                      "status"}
    assert problem["errors"]["status"] == [READ_ONLY_MESSAGE]
    assert counts(app) == (0, 0)


# --- search -------------------------------------------------------------------------------------


def test_search_filters_and_pages(client, h):
    # one open case per patient and program: the same patient in three programs
    ids = [create(client, h, {**river(), "program": f"rehab-{i}"}).get_json()["id"]
           for i in range(3)]
    create(client, h, minimal(model="intensive", program="hiv"))
    resp = client.get("/api/cases?limit=2", headers=h)
    page = resp.get_json()
    assert resp.status_code == 200 and page["total"] == 4 and len(page["items"]) == 2
    assert page["next"] == "/api/cases?limit=2&offset=2"
    last = client.get(page["next"], headers=h).get_json()
    assert last["next"] is None and len(last["items"]) == 2
    seen = [x["id"] for x in page["items"] + last["items"]]
    assert set(ids) <= set(seen) and len(set(seen)) == 4
    q = client.get("/api/cases?identifier=urn:oid:2.16.840.1.113883.19.5.1|MRN-RIVER-0001",
                   headers=h).get_json()
    assert sorted(x["id"] for x in q["items"]) == sorted(ids)
    assert client.get("/api/cases?model=intensive", headers=h).get_json()["total"] == 1
    assert client.get("/api/cases?program=hiv", headers=h).get_json()["total"] == 1
    assert client.get("/api/cases?status=intake,active", headers=h).get_json()["total"] == 4
    assert client.get("/api/cases?status=active", headers=h).get_json()["total"] == 0
    assert client.get("/api/cases?overdue=true", headers=h).get_json()["total"] == 0
    overdue = client.get("/api/cases?overdue=true&as_of=2100-01-01&model=clinical&limit=1",
                         headers=h).get_json()
    assert overdue["total"] == 3 and "model=clinical" in overdue["next"]


def test_search_rejects_bad_parameters(client, h):
    resp = client.get("/api/cases?status=asleep&limit=0&overdue=maybe&colour=red", headers=h)
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"status.0", "limit", "overdue", "colour"}


# --- update with If-Match ----------------------------------------------------------------------


def test_put_replaces_editable_parts_and_bumps_version(client, h):
    cid = create(client, h).get_json()["id"]
    body = river()
    body["program"] = "neuro-rehab"
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": 'W/"1"'})
    assert resp.status_code == 200 and resp.headers["ETag"] == 'W/"2"'
    assert resp.get_json()["program"] == "neuro-rehab"
    assert client.get(f"/api/cases/{cid}", headers=h).get_json()["version"] == 2


def test_put_without_if_match_is_428_and_stale_is_412(client, h, app):
    cid = create(client, h).get_json()["id"]
    body = minimal(program="changed")
    assert client.put(f"/api/cases/{cid}", json=body, headers=h).status_code == 428
    client.put(f"/api/cases/{cid}", json=river(), headers={**h, "If-Match": 'W/"1"'})
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": 'W/"1"'})
    assert resp.status_code == 412
    for bad in ('W/"x"', "garbage"):
        assert client.put(f"/api/cases/{cid}", json=body,
                          headers={**h, "If-Match": bad}).status_code == 412
    stored = client.get(f"/api/cases/{cid}", headers=h).get_json()
    assert stored["version"] == 2 and stored["program"] == "trauma-rehabilitation"


def test_invalid_put_stores_nothing(client, h):
    cid = create(client, h).get_json()["id"]
    body = river()
    body["funding"][0]["member_id"] = None
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": 'W/"1"'})
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {"funding.0.member_id": ["Insurance needs the member id."]}
    assert client.get(f"/api/cases/{cid}", headers=h).headers["ETag"] == 'W/"1"'


def test_changing_the_plan_revokes_the_approval(client, h):
    cid, etag = active_case(client, h)
    case = client.get(f"/api/cases/{cid}", headers=h).get_json()
    assert case["plan"]["approved_by"]["name"] == physician()["name"]
    same = client.put(f"/api/cases/{cid}", json=river(), headers={**h, "If-Match": etag})
    assert same.get_json()["plan"]["approved_by"] is not None  # unchanged plan: kept
    body = river()
    body["plan"]["goals"][0]["description"] = "Walk 1 km independently"
    resp = client.put(f"/api/cases/{cid}", json=body,
                      headers={**h, "If-Match": same.headers["ETag"]})
    plan = resp.get_json()["plan"]
    assert plan["approved_by"] is None and plan["revised_at"] and plan["status"] == "active"


def test_put_may_not_drop_the_case_manager_after_intake(client, h):
    cid, etag = active_case(client, h)
    body = river()
    del body["case_manager"]
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": etag})
    assert resp.status_code == 422 and "case_manager" in resp.get_json()["errors"]


def test_referrals_move_as_the_requester(client, h):
    cid = create(client, h).get_json()["id"]
    body = river()
    body["referrals"] = [{"id": "hh", "service": {"system": "http://snomed.info/sct",
                                                  "code": "385763009"}, "status": "requested"}]
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": 'W/"1"'})
    ref = resp.get_json()["referrals"][0]
    assert ref["status"] == "requested" and ref["requested_at"] and len(ref["history"]) == 1
    body["referrals"][0]["status"] = "accepted"  # only the agency accepts
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": 'W/"2"'})
    assert resp.status_code == 409 and "referrals.0.status" in resp.get_json()["errors"]
    body["referrals"][0]["status"] = "cancelled"  # needs a reason
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": 'W/"2"'})
    assert resp.status_code == 422 and "referrals.0.status_reason" in resp.get_json()["errors"]


def test_a_referral_created_as_requested_is_requested_now(client, h):
    body = river()
    body["referrals"] = [{"id": "hh", "service": {"system": "http://snomed.info/sct",
                                                  "code": "385763009"}, "status": "requested"},
                         {"id": "meals", "service": {"system": "http://snomed.info/sct",
                                                     "code": "385763009"}}]
    got = create(client, h, body).get_json()
    hh, meals = got["referrals"]
    assert hh["status"] == "requested" and hh["requested_at"]
    assert [e["status"] for e in hh["history"]] == ["requested"]
    assert meals["status"] == "draft" and meals["requested_at"] is None and not meals["history"]


# --- lifecycle endpoints ------------------------------------------------------------------------


def test_walk_through_the_lifecycle(client, h):
    cid, etag = active_case(client, h)
    assert etag == 'W/"5"'
    resp = client.post(f"/api/cases/{cid}/reviews", headers=h,
                       json={"mode": "phone", "outcome": "progressing",
                             "goal_updates": {"walk": "improving", "finances": "achieved"}})
    assert resp.status_code == 201
    case = resp.get_json()
    assert case["reviews"][0]["due"] and case["reviews"][0]["done_at"]
    goals = {g["id"]: g for g in case["plan"]["goals"]}
    assert goals["finances"]["lifecycle_status"] == "completed"
    etag = resp.headers["ETag"]
    for to in ("on-hold", "active", "transition", "closed"):
        resp = move(client, h, cid, etag, to)
        assert resp.status_code == 200, (to, resp.get_json())
        etag = resp.headers["ETag"]
    case = resp.get_json()
    assert case["closed_at"] and case["plan"]["status"] == "completed"
    assert case["next_review_due"] is None
    assert [s["status"] for s in case["status_history"]] == [
        "intake", "assessment", "planning", "active", "on-hold", "active", "transition", "closed"]
    assert client.put(f"/api/cases/{cid}", json=river(),
                      headers={**h, "If-Match": etag}).status_code == 409


def test_refused_moves(client, h):
    resp = create(client, h, minimal())
    cid = resp.get_json()["id"]
    illegal = move(client, h, cid, 'W/"1"', "active")
    assert illegal.status_code == 409 and "status" in illegal.get_json()["errors"]
    no_manager = move(client, h, cid, 'W/"1"', "assessment")
    assert no_manager.status_code == 422
    assert no_manager.get_json()["errors"] == {
        "case_manager": ["assign a case manager before assessment"]}
    no_reason = move(client, h, cid, 'W/"1"', "cancelled")
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]
    bad = move(client, h, cid, 'W/"1"', "paused")
    assert bad.status_code == 422 and "to" in bad.get_json()["errors"]
    assert client.post(f"/api/cases/{cid}/transitions", json={"to": "cancelled"},
                       headers=h).status_code == 428
    assert move(client, h, cid, 'W/"9"', "cancelled", reason="x").status_code == 412
    assert client.get(f"/api/cases/{cid}", headers=h).get_json()["version"] == 1
    ok = move(client, h, cid, 'W/"1"', "cancelled", reason="duplicate referral")
    assert ok.status_code == 200 and ok.get_json()["status"] == "cancelled"


def test_activation_needs_plan_approval(client, h):
    cid = create(client, h).get_json()["id"]
    etag = move(client, h, cid, 'W/"1"', "assessment").headers["ETag"]
    etag = move(client, h, cid, etag, "planning").headers["ETag"]
    resp = move(client, h, cid, etag, "active")
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {
        "plan.approved_by": ["the plan must be approved by a physician first"]}
    assert client.post(f"/api/cases/{cid}/plan/approval", json={"approved_by": physician()},
                       headers=h).status_code == 428
    bad = client.post(f"/api/cases/{cid}/plan/approval", json={"approved_by": {}},
                      headers={**h, "If-Match": etag})
    assert bad.status_code == 422 and "approved_by.name" in bad.get_json()["errors"]


def test_reviews_need_a_running_case_and_known_goals(client, h):
    cid = create(client, h, {**river(), "program": "intake-only"}).get_json()["id"]
    resp = client.post(f"/api/cases/{cid}/reviews", json={"mode": "phone"}, headers=h)
    assert resp.status_code == 409
    cid, etag = active_case(client, h)
    resp = client.post(f"/api/cases/{cid}/reviews", json={"goal_updates": {"swim": "achieved"}},
                       headers=h)
    assert resp.status_code == 422 and "goal_updates" in resp.get_json()["errors"]
    resp = client.post(f"/api/cases/{cid}/reviews", json={"mode": "telepathy"},
                       headers={**h, "If-Match": etag})
    assert resp.status_code == 422 and "mode" in resp.get_json()["errors"]
    resp = client.post(f"/api/cases/{cid}/reviews", json={"mode": "phone"},
                       headers={**h, "If-Match": 'W/"1"'})
    assert resp.status_code == 412
    assert client.get(f"/api/cases/{cid}", headers=h).get_json()["reviews"] == []


def test_notes(client, h):
    cid = create(client, h).get_json()["id"]
    resp = client.post(f"/api/cases/{cid}/notes", json={"text": "Called the patient."},
                       headers=h)
    assert resp.status_code == 201 and resp.headers["ETag"] == 'W/"2"'
    note = resp.get_json()["notes"][0]
    assert note["text"] == "Called the patient." and note["at"] and note["id"]
    resp = client.post(f"/api/cases/{cid}/notes", json={"text": " ", "at": "x"}, headers=h)
    assert resp.status_code == 422 and set(resp.get_json()["errors"]) == {"text", "at"}
    assert client.post("/api/cases/nope/notes", json={"text": "x"}, headers=h).status_code == 404


# --- auth ----------------------------------------------------------------------------------------


def test_no_token_is_401(client, app):
    assert client.get("/api/cases").status_code == 401
    assert client.post("/api/cases", json=river()).status_code == 401
    assert counts(app) == (0, 0)


def test_token_without_the_scope_is_403(client, auth_headers, app):
    read_only = auth_headers("system/Case.rs")
    assert client.post("/api/cases", json=river(), headers=read_only).status_code == 403
    assert client.get("/api/cases", headers=read_only).status_code == 200
    other = auth_headers("system/Patient.cruds")
    assert client.get("/api/cases", headers=other).status_code == 403
    assert counts(app) == (0, 0)


def test_v1_write_scope_creates_and_updates(client, auth_headers):
    write = auth_headers("system/Case.write")
    resp = client.post("/api/cases", json=river(), headers=write)
    assert resp.status_code == 201
    cid = resp.get_json()["id"]
    resp = client.put(f"/api/cases/{cid}", json=river(), headers={**write, "If-Match": 'W/"1"'})
    assert resp.status_code == 200
    assert client.get(f"/api/cases/{cid}", headers=write).status_code == 403


# --- round trip, merge patch --------------------------------------------------------------------


def test_get_then_put_the_same_body_back_works(client, h):
    cid, etag = active_case(client, h)
    client.post(f"/api/cases/{cid}/notes", json={"text": "called"}, headers=h)
    client.post(f"/api/cases/{cid}/reviews", json={"mode": "phone"}, headers=h)
    resp = client.get(f"/api/cases/{cid}", headers=h)
    body, etag = resp.get_json(), resp.headers["ETag"]
    assert body["reviews"] and body["notes"] and body["next_review_due"]
    body["program"] = "housing"
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": etag})
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    assert got["program"] == "housing" and got["version"] == body["version"] + 1
    assert got["status"] == "active" and got["plan"]["approved_by"] == body["plan"]["approved_by"]
    assert got["reviews"] == body["reviews"] and got["notes"] == body["notes"]


@pytest.mark.parametrize("path,value", [
    (("status",), "closed"),
    (("version",), 99),
    (("opened_at",), "2020-01-01T00:00:00+00:00"),
    (("next_review_due",), "2020-01-01"),
    (("plan", "approved_by"), {"name": "Dr Nobody"}),
    (("notes",), [{"text": "made up"}]),
])
def test_a_server_set_field_that_differs_is_refused_by_name(client, h, path, value):
    cid, etag = active_case(client, h)
    body = client.get(f"/api/cases/{cid}", headers=h).get_json()
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": etag})
    assert resp.status_code == 422
    errors = resp.get_json()["errors"]
    assert list(errors) == [".".join(path)]
    assert "differs from the stored value" in errors[".".join(path)][0]
    assert client.get(f"/api/cases/{cid}", headers=h).headers["ETag"] == etag  # nothing stored


def test_merge_patch_changes_only_what_it_names(client, h):
    cid, etag = active_case(client, h)
    before = client.get(f"/api/cases/{cid}", headers=h).get_json()
    patch = {"program": "housing", "case_manager": {"name": "Sam Lee"},
             "review_interval_days": None}
    headers = {**h, "Content-Type": "application/merge-patch+json"}
    resp = client.patch(f"/api/cases/{cid}", json=patch, headers=headers)
    assert resp.status_code == 428
    resp = client.patch(f"/api/cases/{cid}", json=patch, headers={**headers, "If-Match": etag})
    assert resp.status_code == 200, resp.get_json()
    got = resp.get_json()
    # objects merge member by member: the manager's reference stays
    assert got["program"] == "housing" and got["case_manager"] == {
        **before["case_manager"], "name": "Sam Lee"}
    assert got["review_interval_days"] is None
    assert got["patient"] == before["patient"] and got["plan"] == before["plan"]
    assert resp.headers["ETag"] != etag
    # a stale ETag: 412, nothing stored
    resp = client.patch(f"/api/cases/{cid}", json={"program": "x"},
                        headers={**headers, "If-Match": etag})
    assert resp.status_code == 412
    # plain JSON is not a merge patch
    resp = client.patch(f"/api/cases/{cid}", json={"program": "x"},
                        headers={**h, "If-Match": f'W/"{got["version"]}"'})
    assert resp.status_code == 415


def test_merge_patch_result_is_validated_like_put(client, h):
    cid, etag = active_case(client, h)
    headers = {**h, "Content-Type": "application/merge-patch+json", "If-Match": etag}
    resp = client.patch(f"/api/cases/{cid}", json={"patient": {"birth_date": "not a date"}},
                        headers=headers)
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"patient.birth_date"}
    resp = client.patch(f"/api/cases/{cid}", json={"status": "closed", "plan": {
        "approved_at": None}}, headers=headers)
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"status"}  # a removed server-set part is kept
    resp = client.patch(f"/api/cases/{cid}", json={"case_manager": None}, headers=headers)
    assert resp.status_code == 422 and "case_manager" in resp.get_json()["errors"]
    assert client.get(f"/api/cases/{cid}", headers=h).headers["ETag"] == etag


def test_trailing_slash_is_tolerated(client, h):
    resp = client.post("/api/cases/", json=river(), headers=h)
    assert resp.status_code == 201
    listed = client.get("/api/cases/", headers=h)
    assert listed.status_code == 200 and listed.get_json()["total"] == 1


# --- worklist ------------------------------------------------------------------------------------


def _set(app, case_id, **columns):
    with app.extensions["hub.db"].engine.begin() as conn:
        conn.execute(sa.update(cases).where(cases.c.id == case_id).values(**columns))


def test_worklist_filters_sorts_and_summarises(client, h, app):
    from datetime import date, datetime

    def new(family, given, manager=None, **extra):
        body = minimal(**extra)
        body["patient"]["name"] = {"family": family, "given": given}
        if manager:
            body["case_manager"] = {"name": manager}
        return create(client, h, body).get_json()["id"]

    rosa = new("Rivera", ["Rosa", "Maria"], "Alex Morgan")
    ron = new("Rivers", ["Ron"], "Sam Lee", model="intensive")
    ann = new("O'Neil_%", ["Ann"], "alex morgan")
    # opened on known days: the next review (clinical 30 days, intensive 7) follows
    for cid, day in ((rosa, 1), (ron, 2), (ann, 3)):
        _set(app, cid, opened_at=datetime(2026, 1, day, tzinfo=UTC))

    def ids(query):
        resp = client.get(f"/api/cases?{query}", headers=h)
        assert resp.status_code == 200, resp.get_json()
        return [i["id"] for i in resp.get_json()["items"]]

    assert ids("name=rivera") == [rosa]
    assert ids("name=RIV") == [rosa, ron]
    assert ids("name=maria%20rosa") == [rosa]  # every word, any order
    assert ids("name=_%25") == [ann]  # LIKE wildcards are plain characters
    assert ids("name=%25") == [ann]
    assert ids("case_manager=ALEX%20MORGAN") == [rosa, ann]
    assert ids("case_manager=Alex") == []  # the whole name
    assert ids("sort=-opened_at") == [ann, ron, rosa]
    # next reviews as stored (the column is what the database sorts on)
    _set(app, rosa, next_review_due=date(2026, 3, 1))
    _set(app, ron, next_review_due=date(2026, 1, 9))
    _set(app, ann, next_review_due=date(2026, 2, 2))
    assert ids("sort=next_review_due") == [ron, ann, rosa]
    assert ids("sort=-next_review_due") == [rosa, ann, ron]
    assert ids("due_before=2026-02-03&sort=next_review_due") == [ron, ann]
    assert ids("due_before=2026-02-03&case_manager=alex%20morgan") == [ann]
    assert ids("overdue=true&as_of=2026-02-01") == [ron]
    # paging both ways
    page = client.get("/api/cases?sort=next_review_due&limit=1&offset=1", headers=h).get_json()
    assert [i["id"] for i in page["items"]] == [ann]
    assert client.get(page["previous"], headers=h).get_json()["items"][0]["id"] == ron
    assert client.get(page["next"], headers=h).get_json()["items"][0]["id"] == rosa
    assert "sort=next_review_due" in page["next"] and page["previous"].endswith("offset=0")
    first = client.get("/api/cases?limit=1", headers=h).get_json()
    assert first["previous"] is None
    # items are summaries carrying the next review
    item = client.get("/api/cases?name=rivera&as_of=2026-02-01", headers=h).get_json()[
        "items"][0]
    assert set(item) == {"id", "version", "status", "patient", "model", "setting", "program",
                         "case_manager", "opened_at", "closed_at", "plan_status",
                         "next_review_due", "review_overdue", "href"}
    assert item["href"] == f"/api/cases/{rosa}" and item["review_overdue"] is False
    full = client.get(item["href"], headers=h).get_json()
    assert item["next_review_due"] == full["next_review_due"] is not None
    assert "plan" not in item and "notes" not in item


def test_worklist_refuses_an_unknown_sort(client, h):
    resp = client.get("/api/cases?sort=patient", headers=h)
    assert resp.status_code == 422 and set(resp.get_json()["errors"]) == {"sort"}


def test_worklist_columns_follow_updates(client, h, app):
    cid = create(client, h).get_json()["id"]
    body = client.get(f"/api/cases/{cid}", headers=h).get_json()
    body["patient"]["name"] = {"family": "Okafor", "given": ["Chidi"]}
    body["case_manager"] = {"name": "Jo Park"}
    resp = client.put(f"/api/cases/{cid}", json=body, headers={**h, "If-Match": 'W/"1"'})
    assert resp.status_code == 200, resp.get_json()
    got = client.get("/api/cases?name=chidi&case_manager=jo%20park", headers=h).get_json()
    assert [i["id"] for i in got["items"]] == [cid]


def test_reads_answer_each_version_as_it_is_now(client, h):
    """A read answers the case's current version (answers are rendered once per case
    version and reused): the same bytes while nothing changed, the change once it did."""
    headers = h
    created = create(client, h)
    url = created.headers["Location"]
    first, again = client.get(url, headers=headers), client.get(url, headers=headers)
    assert first.get_data() == again.get_data() == created.get_data()
    assert first.mimetype == "application/json" and first.headers["ETag"] == 'W/"1"'
    noted = client.post(f"{url}/notes", json={"text": "called the daughter"},
                        headers={**headers, "If-Match": 'W/"1"'})
    assert noted.status_code == 201
    after = client.get(url, headers=headers)
    assert after.headers["ETag"] == 'W/"2"' and after.get_data() == noted.get_data()
    assert [n["text"] for n in after.get_json()["notes"]] == ["called the daughter"]
