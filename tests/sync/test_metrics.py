"""``/metrics``: request latency by route, deliveries, retries, dead letters, pulls, outbox
depth, pool use; labels without ids or patient data; guarded by ``system/Metrics.read``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.store.db import Database
from hub.sync import outbox, pulls
from hub.sync.cursors import set_cursor
from hub.sync.partners import Partner, Timeouts
from hub.sync.registry import Adapters
from hub.sync.retry import RetryPolicy

from .partner_server import FhirPartner, PartnerServer

pytestmark = pytest.mark.integration

SCOPE = "system/Metrics.read"
SECRET = "Marjorie Secretname"


def _scrape(client, headers) -> dict:
    """{(name, frozenset(labels)): value} of one scrape."""
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type.startswith("text/plain")
    text = resp.get_data(as_text=True)
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name, frozenset(sample.labels.items())] = sample.value
    values["__text__"] = text
    return values


def _get(values, name, **labels) -> float:
    return values.get((name, frozenset(labels.items())), 0.0)


def _enqueue(db: Database, partner: str, n: int, prefix: str) -> None:
    with db.sessions() as session:
        for i in range(n):
            outbox.enqueue(session, partner_id=partner, case_id=f"{prefix}-case-{i}",
                           resource_type="CarePlan", resource_id=f"{prefix}-cp-{i}",
                           operation="create",
                           payload={"resourceType": "CarePlan", "status": "active",
                                    "intent": "plan", "subject": {"display": SECRET},
                                    "identifier": [{"system": "urn:plans",
                                                    "value": f"{prefix}-{i}"}]})
        session.commit()


@contextmanager
def _live_and_gone(app, name: str, max_attempts: int) -> Iterator:
    """A worker delivering to partner ``live`` (a FHIR server on loopback) and ``gone``
    (nothing listening), closed with the server after the ``with`` block."""
    server = PartnerServer(FhirPartner()).start()
    partners = {
        "live": Partner(id="live", kind="hospital", base_url=server.base_url,
                        organization="Organization/live", receives=("CarePlan",),
                        timeouts=Timeouts(connect=1, read=2)),
        "gone": Partner(id="gone", kind="hospital", base_url="http://127.0.0.1:9/fhir",
                        organization="Organization/gone", receives=("CarePlan",),
                        timeouts=Timeouts(connect=0.2, read=0.2)),
    }
    runtime = app.extensions["hub.runtime"]
    adapters = Adapters(partners)
    runtime.use_adapters(adapters)
    worker = runtime.worker(name, policy=RetryPolicy(max_attempts=max_attempts, base_delay=0.0,
                                                     max_delay=0.0))
    try:
        yield worker
    finally:
        worker.close()
        adapters.close()
        server.stop()


def _run(worker) -> None:
    """Run the worker until nothing is due (at most 20 rounds)."""
    for _ in range(20):
        if not worker.run_once():
            break


def test_scrape_moves_with_requests_and_deliveries(app, client, auth_headers):
    headers = auth_headers(SCOPE)
    with _live_and_gone(app, "metrics-test", max_attempts=2) as worker:
        before = _scrape(client, headers)
        db = app.extensions["hub.db"]
        _enqueue(db, "live", 3, "a")
        _enqueue(db, "gone", 1, "b")
        waiting = _scrape(client, headers)
        assert _get(waiting, "hub_outbox_depth", partner="live") == 3
        assert _get(waiting, "hub_outbox_depth", partner="gone") == 1
        assert _get(waiting, "hub_outbox_oldest_age_seconds", partner="live") >= 0
        assert ("hub_outbox_oldest_age_seconds", frozenset({("partner", "live")})) in waiting

        with db.sessions() as session:
            pulls.request_pull(session, "live", "Task")
            session.commit()
        _run(worker)
        with db.sessions() as session:
            set_cursor(session, "live", "Task", "2026-01-01T00:00:00Z")
            session.commit()

        # requests of a route with an id in the path: the label is the url rule
        for rid in ("pat-123456", "pat-654321"):
            client.get(f"/fhir/Patient/{rid}", headers=auth_headers("system/*.read"))
        client.get("/api/cases/case-secret-777")  # 401, still timed by its rule
        after = _scrape(client, headers)

    def moved(name, **labels):
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert moved("hub_deliveries_total", partner="live", operation="create",
                 outcome="delivered") == 3
    assert moved("hub_deliveries_total", partner="gone", operation="create",
                 outcome="retry") == 1
    assert moved("hub_deliveries_total", partner="gone", operation="create",
                 outcome="dead") == 1
    assert moved("hub_delivery_retries_total", partner="gone") == 1
    assert moved("hub_dead_letters_total", partner="gone") == 1
    assert moved("hub_delivery_duration_seconds_count", partner="live", operation="create") == 3
    assert moved("hub_pulls_total", partner="live", resource_type="Task", outcome="ok") == 1
    assert _get(after, "hub_outbox_depth", partner="live") == 0
    assert _get(after, "hub_pull_lag_seconds", partner="live", resource_type="Task") >= 0
    assert ("hub_pull_lag_seconds",
            frozenset({("partner", "live"), ("resource_type", "Task")})) in after
    assert ("hub_db_pool_checked_out", frozenset()) in after or db.is_sqlite

    rule = "/fhir/<rtype>/<rid>"
    latencies = {dict(k[1]).get("status") for k in after if k != "__text__"
                 and k[0] == "hub_http_request_duration_seconds_count"
                 and dict(k[1]).get("route") == rule}
    assert latencies, "no latency recorded for the read route"
    assert moved("hub_http_request_duration_seconds_count", method="GET", route="/metrics",
                 status="200") >= 2
    assert sum(v for k, v in after.items() if k != "__text__"
               and k[0] == "hub_http_request_duration_seconds_count"
               and dict(k[1]).get("route") == "/api/cases/<case_id>"
               and dict(k[1]).get("status") == "401") >= 1

    # no id, case, resource or patient data in any label
    text = after["__text__"]
    for leak in ("pat-123456", "case-secret-777", "a-case-0", "a-cp-0", SECRET, "Secretname"):
        assert leak not in text
    label_values = {v for k in after if k != "__text__" for _, v in k[1]}
    assert not [v for v in label_values if re.search(r"\d{3,}", v) and not v.startswith("/")
                and not re.fullmatch(r"[\d.e+inf-]+", v, re.I)]


def test_scrape_is_guarded(client, auth_headers):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth_headers("system/Patient.read")).status_code == 403
    # no wildcard covers Metrics
    assert client.get("/metrics", headers=auth_headers("system/*.read")).status_code == 403
    assert client.get("/metrics",
                      headers=auth_headers("system/Patient.read",
                                           organization="Organization/st-marys")
                      ).status_code == 403
    assert client.get("/metrics", headers=auth_headers(SCOPE)).status_code == 200


def test_multiprocess_mode_merges_every_process(database_url, tmp_path, app):
    """With PROMETHEUS_MULTIPROC_DIR, a scrape in one process shows what others counted."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), PYTHONWARNINGS="ignore")
    count = ("from types import SimpleNamespace as D\n"
             "from hub.observability.metrics import record_delivery\n"
             "for _ in range({n}):\n"
             "    record_delivery(D(partner_id='p1', operation='create', resource_type='CarePlan'),"
             " ok=True, dead=False, kept=True, seconds=0.01)\n")
    for n in (2, 3):
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True)
    scrape = ("import sys\n"
              "from hub.observability.metrics import exposition\n"
              "from hub.store.db import Database\n"
              f"sys.stdout.write(exposition(Database({database_url!r})).decode())\n")
    text = subprocess.run([sys.executable, "-c", scrape], env=env, check=True,
                          capture_output=True, text=True).stdout
    values = {(s.name, frozenset(s.labels.items())): s.value
              for f in text_string_to_metric_families(text) for s in f.samples}
    labels = {("partner", "p1"), ("operation", "create"), ("outcome", "delivered")}
    assert values[("hub_deliveries_total", frozenset(labels))] == 5
    assert ("hub_outbox_depth", frozenset()) not in values  # per partner only


def _page_numbers(html: str) -> dict[str, dict[str, str]]:
    """partner -> metric -> cell text, from the console's #numbers table."""
    table = html[html.index('id="numbers"'):html.index("</table>", html.index('id="numbers"'))]
    out: dict[str, dict[str, str]] = {}
    for partner, row in re.findall(r'<tr data-partner="([^"]+)">(.*?)</tr>', table, re.S):
        out[partner] = dict(re.findall(r'data-metric="(\w+)">([^<]*)<', row))
    return out


def test_the_console_shows_the_numbers_of_the_scrape(app, client, auth_headers):
    from tests.console_data import add_user
    from tests.test_console import sign_in

    headers = auth_headers(SCOPE)
    db = app.extensions["hub.db"]
    with _live_and_gone(app, "console-numbers", max_attempts=1) as worker:
        _enqueue(db, "live", 2, "c")
        _enqueue(db, "gone", 2, "d")
        _run(worker)
        _enqueue(db, "live", 1, "e")  # waiting
        with db.sessions() as session:
            set_cursor(session, "live", "Task", "2026-01-01T00:00:00Z")
            session.commit()
        scraped = _scrape(client, headers)
        add_user(db, "olly", "operator")
        sign_in(client, "olly")
        page = client.get("/operations")
        assert page.status_code == 200
        shown = _page_numbers(page.get_data(as_text=True))

    assert shown["live"]["depth"] == "1" and shown["gone"]["dead"] == "2"
    for partner in ("live", "gone"):
        numbers = shown[partner]
        assert numbers["depth"] == str(int(_get(scraped, "hub_outbox_depth", partner=partner)))
        assert numbers["dead"] == str(int(_get(scraped, "hub_outbox_dead", partner=partner)))
        delivered = sum(v for k, v in scraped.items() if k != "__text__"
                        and k[0] == "hub_deliveries_total" and dict(k[1]).get("partner")
                        == partner and dict(k[1]).get("outcome") == "delivered")
        assert numbers["delivered"] == str(int(delivered))  # every operation
        assert numbers["dead_letters"] == str(int(_get(scraped, "hub_dead_letters_total",
                                                       partner=partner)))
        assert numbers["retries"] == str(int(_get(scraped, "hub_delivery_retries_total",
                                                  partner=partner)))
    assert int(shown["gone"]["dead_letters"]) >= 2 and int(shown["live"]["delivered"]) >= 2
    assert shown["live"]["lag"].startswith("Task ")
