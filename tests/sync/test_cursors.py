"""Pull cursors in the sync ledger."""

from __future__ import annotations

from hub.sync.cursors import get_cursor, latest_last_updated, set_cursor


def test_cursor_round_trip(db):
    with db.sessions() as session:
        assert get_cursor(session, "st-marys", "Encounter") is None
        set_cursor(session, "st-marys", "Encounter", "2026-11-23T10:00:00Z")
        set_cursor(session, "st-marys", "CarePlan", "2026-11-01T00:00:00Z")
        session.commit()
        set_cursor(session, "st-marys", "Encounter", "2026-11-23T11:00:00Z")
        session.rollback()  # not committed: the old cursor stays
        assert get_cursor(session, "st-marys", "Encounter") == "2026-11-23T10:00:00Z"
        assert get_cursor(session, "st-marys", "CarePlan") == "2026-11-01T00:00:00Z"


def test_latest_last_updated_compares_instants_not_text():
    resources = [{"meta": {"lastUpdated": "2026-11-23T12:00:00+02:00"}},  # 10:00 UTC
                 {"meta": {"lastUpdated": "2026-11-23T10:30:00Z"}}, {"meta": {}}]
    assert latest_last_updated(resources, "2026-11-23T10:15:00Z") == "2026-11-23T10:30:00Z"
    assert latest_last_updated([], None) is None
    assert latest_last_updated([], "2026-01-01T00:00:00Z") == "2026-01-01T00:00:00Z"
