"""Executors are woken after a commit that queued outbox rows, and only then."""

from hub.store.uow import UnitOfWork
from hub.sync.outbox import enqueue


def _queue(uow: UnitOfWork) -> None:
    enqueue(uow.session, partner_id="p", resource_type="CarePlan", resource_id="cp-1",
            operation="create", payload={"resourceType": "CarePlan"}, case_id="c-1")


def test_callbacks_run_after_a_commit_that_queued_work(app):
    db, calls = app.extensions["hub.db"], []
    db.on_outbox_commit.append(lambda: calls.append("kick"))
    with UnitOfWork(db) as uow:
        _queue(uow)
        assert calls == []  # not before the rows are durable
        uow.commit()
    assert calls == ["kick"]
    with UnitOfWork(db) as uow:
        uow.session.execute(__import__("sqlalchemy").text("SELECT 1"))
        uow.commit()
    assert calls == ["kick"]  # nothing queued, nobody woken


def test_no_callback_when_the_queueing_write_rolls_back(app):
    db, calls = app.extensions["hub.db"], []
    db.on_outbox_commit.append(lambda: calls.append("kick"))
    with UnitOfWork(db) as uow:
        _queue(uow)
        uow.rollback()
        uow.commit()
    assert calls == []
