"""Issue 9 item 9 with several processes: the token-failure limit lives in Redis when
``HUB_RATELIMIT_STORAGE_URL`` names one, so two hub instances (two gunicorn workers, two
hosts) share one count and an attacker cannot multiply his guesses by spreading them.

Uses the machine's Redis (``HUB_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/0``)
under a key prefix of its own, removed afterwards.
"""

from __future__ import annotations

import base64
import os
import uuid

import pytest
import redis

from hub.store.uow import UnitOfWork

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ATTACKER, OFFICE = "203.0.113.9", "198.51.100.7"


@pytest.fixture
def prefix():
    prefix = f"hub-test-{uuid.uuid4().hex}"
    yield prefix
    conn = redis.Redis.from_url(REDIS_URL)
    for key in conn.scan_iter(f"*{prefix}*"):
        conn.delete(key)
    conn.close()


def _token(app, cid, secret, addr):
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    return app.test_client().post("/auth/token", data={"grant_type": "client_credentials"},
                                  headers={"Authorization": f"Basic {basic}"},
                                  environ_base={"REMOTE_ADDR": addr})


def test_two_instances_share_the_failure_count_in_redis(make_app, prefix):
    one, two = (make_app(ratelimit_storage_url=REDIS_URL, ratelimit_key_prefix=prefix)
                for _ in range(2))
    with UnitOfWork(one.extensions["hub.db"]) as uow:
        registered, secret = uow.clients.create("victim", "system/*.read")
        uow.commit()
    cid = registered.client_id
    # ten guesses, alternating between the instances: five failures seen by each
    statuses = [_token(one if i % 2 else two, cid, f"guess-{i}", ATTACKER).status_code
                for i in range(10)]
    assert statuses == [401] * 10
    # the eleventh is refused by either instance: the count is the shared one
    for app in (one, two):
        refused = _token(app, cid, "guess-x", ATTACKER)
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert _token(two, cid, secret, OFFICE).status_code == 429  # the client id is locked
    # the counts are in Redis, under the configured prefix
    conn = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [k.decode() for k in conn.scan_iter(f"*{prefix}*")]
    finally:
        conn.close()
    assert any(cid in k for k in keys), keys


def test_memory_storage_is_per_instance(make_app):
    """The default (no Redis): each instance counts alone, which is what Redis fixes."""
    one, two = make_app(), make_app()
    with UnitOfWork(one.extensions["hub.db"]) as uow:
        registered, _ = uow.clients.create("victim", "system/*.read")
        uow.commit()
    cid = registered.client_id
    assert [_token(one, cid, f"g{i}", ATTACKER).status_code for i in range(11)][-1] == 429
    assert _token(two, cid, "g-x", ATTACKER).status_code == 401
