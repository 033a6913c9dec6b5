"""The Celery executor against a real broker (RabbitMQ on 127.0.0.1:5672 by default,
``HUB_TEST_CELERY_BROKER_URL`` for another, e.g. Redis) and a real Celery worker process:
kicks after writes deliver every row exactly once, in per-case order, through the same
claim and delivery functions as ``hub worker``; rows whose Celery message was lost are
delivered by the periodic sweep. Each test run uses its own queue, so parallel runs on
one broker do not take each other's tasks. A broker that is down fails these tests (CI
starts RabbitMQ, see .ci/run); it never skips them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from kombu.exceptions import OperationalError

from hub.cli import main
from hub.config import Settings
from hub.sync import outbox
from hub.sync.celery_app import DELIVER_DUE, SWEEP, ExecutorOptions, create_celery, kick
from hub.sync.registry import DEFAULT_IDENTIFIER_SYSTEM
from hub.sync.worker import Worker

from .conftest import loopback_partner
from .partner_server import Fault, FhirPartner, PartnerServer

pytestmark = pytest.mark.integration

BROKER_URL = os.environ.get("HUB_TEST_CELERY_BROKER_URL",
                            "amqp://guest:guest@127.0.0.1:5672//")
START_TIMEOUT = 20.0
DELIVERY_TIMEOUT = 25.0


class OrderedPartner(FhirPartner):
    """Logs every request the partner handled, in handling order, with the hub's local
    reference (from the identifier the hub puts on what it sends) and the title."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.log: list[tuple[str, str | None, str | None, int]] = []

    def _route(self, request, parts, body):  # called under the partner's lock
        response = super()._route(request, parts, body)
        local = next((i.get("value") for i in (body or {}).get("identifier", [])
                      if i.get("system") == DEFAULT_IDENTIFIER_SYSTEM), None)
        self.log.append((request.method, local, (body or {}).get("title"),
                         response.status_code))
        return response


# -- fixtures -----------------------------------------------------------------------------

def _redacted(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url)


@pytest.fixture(scope="module")
def broker_url() -> str:
    """The broker, reachable, or the test fails (a skipped broker test hides a broken CI)."""
    from kombu import Connection

    problem = None
    try:
        with Connection(BROKER_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=2, interval_start=0.5, interval_step=0.5,
                                   timeout=10)
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        pytest.fail(f"the Celery broker is not reachable at {_redacted(BROKER_URL)} "
                    f"({problem}). These tests need it: start RabbitMQ "
                    f"(`rabbitmq-server -detached`; .ci/run does) or point "
                    f"HUB_TEST_CELERY_BROKER_URL at a running broker.", pytrace=False)
    return BROKER_URL


@pytest.fixture
def queue(broker_url):
    """A queue of this test alone, deleted afterwards (with whatever is left in it)."""
    from kombu import Connection, Queue

    name = f"hub-test-{uuid.uuid4().hex[:12]}"
    yield name
    try:
        with Connection(broker_url, connect_timeout=3) as conn:
            Queue(name, channel=conn.default_channel).delete()
    except Exception:
        pass


@pytest.fixture
def producer(broker_url, queue):
    """The hub side: a Celery app sending kicks to this test's queue."""
    app = create_celery(Settings(celery_broker_url=broker_url), ExecutorOptions(queue=queue))
    yield app
    app.close()


@pytest.fixture
def partner():
    app = OrderedPartner()
    server = PartnerServer(app).start()
    app.server = server
    yield app
    server.stop()


class CeleryWorkerProcess:
    """``hub celery worker`` in a subprocess (own session, so the whole group is ended)."""

    def __init__(self, proc: subprocess.Popen, logfile: Path) -> None:
        self.proc = proc
        self.logfile = logfile

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def tail(self, n: int = 3000) -> str:
        return f"celery worker log (tail):\n{self.log()[-n:]}"

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while " ready." not in self.log():
            assert self.proc.poll() is None, \
                f"the celery worker exited with {self.proc.returncode}\n{self.tail()}"
            assert time.monotonic() < deadline, \
                f"the celery worker was not ready within {timeout}s\n{self.tail()}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown (ends embedded beat too)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung worker
                pass
        try:  # anything of its group still alive (embedded beat, pool children)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:  # pragma: no cover
            self.proc.wait(5)


@pytest.fixture
def celery_worker(database_url, broker_url, queue, partner, tmp_path):
    """Factory: start a real Celery worker of the hub on this test's queue and database;
    it is always stopped (with its process group) when the test ends."""
    started: list[CeleryWorkerProcess] = []
    partners_file = tmp_path / "partners.json"
    partners_file.write_text(json.dumps({"partners": [{
        "id": "st-marys", "kind": "hospital", "base_url": partner.server.base_url,
        # a read timeout well above what a loaded CI machine takes to answer: a delivery
        # whose answer times out is retried (at least once, as it should be), and this
        # file's exactly-once assertions would count the partner's second copy of the POST
        "timeouts": {"connect": 1, "read": 20}}]}))

    def start(*args: str) -> CeleryWorkerProcess:
        env = dict(os.environ, HUB_DATABASE_URL=database_url,
                   HUB_PARTNERS_FILE=str(partners_file), HUB_CELERY_BROKER_URL=broker_url,
                   HUB_CELERY_QUEUE=queue, PYTHONWARNINGS="ignore")
        env.pop("HUB_CELERY_SWEEP_SECONDS", None)
        logfile = tmp_path / f"celery-{len(started)}.log"
        with logfile.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hub.commands.celery", "worker",
                 "--backoff-base", "0.01", "--backoff-max", "0.05", "--max-attempts", "20",
                 *args, "--hostname", f"{queue}@%h", "--without-gossip",
                 "--without-mingle"],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        worker = CeleryWorkerProcess(proc, logfile)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


# -- helpers ------------------------------------------------------------------------------

CASES = 4


def _plan(case: int, title: str) -> dict:
    return {"resourceType": "CarePlan", "status": "active", "intent": "plan", "title": title,
            "subject": {"reference": f"Patient/{case}"}}


def _write_case(db, case: int) -> list[tuple[str, str, str]]:
    """One write of a case: 3 CarePlan creates, then 2 updates of the first; the expected
    (method, local reference, title) sequence at the partner."""
    expected = []
    with db.sessions() as session:
        for p in range(3):
            outbox.enqueue(session, partner_id="st-marys", case_id=f"case-{case}",
                           resource_type="CarePlan", resource_id=f"cp-{case}-{p}",
                           operation="create", payload=_plan(case, "v1"))
            expected.append(("POST", f"CarePlan/cp-{case}-{p}", "v1"))
        for title in ("v2", "v3"):
            outbox.enqueue(session, partner_id="st-marys", case_id=f"case-{case}",
                           resource_type="CarePlan", resource_id=f"cp-{case}-0",
                           operation="update", payload=_plan(case, title))
            expected.append(("PUT", f"CarePlan/cp-{case}-0", title))
        session.commit()
    return expected


def _rows(db, *, pulls: bool = False) -> list[outbox.Delivery]:
    """The outbox rows (the deliveries; the partners' pull rows with ``pulls``)."""
    with db.sessions() as session:
        rows = outbox.list_deliveries(session, limit=1000)
    return [r for r in rows if (r.operation == "pull") == pulls]


def _wait_all_done(db, worker: CeleryWorkerProcess, count: int) -> list[outbox.Delivery]:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        rows = _rows(db)
        if len(rows) == count and all(r.status == "done" for r in rows):
            return rows
        assert worker.proc.poll() is None, f"the celery worker died\n{worker.tail()}"
        assert time.monotonic() < deadline, (
            f"not delivered within {DELIVERY_TIMEOUT}s: "
            f"{Counter(r.status for r in rows)}; last errors "
            f"{[r.last_error for r in rows if r.last_error][:3]}\n{worker.tail()}")
        time.sleep(0.05)


def _assert_exactly_once_in_order(partner: OrderedPartner,
                                  expected: dict[int, list[tuple[str, str, str]]]) -> None:
    # what the partner holds: one copy of each local CarePlan, none missing, latest title
    stored = partner.all("CarePlan")
    copies = Counter(i["value"] for r in stored for i in r.get("identifier", [])
                     if i["system"] == DEFAULT_IDENTIFIER_SYSTEM)
    locals_ = {local for seq in expected.values() for _m, local, _t in seq}
    assert copies == Counter(dict.fromkeys(locals_, 1))
    titles = {i["value"]: r["title"] for r in stored for i in r["identifier"]
              if i["system"] == DEFAULT_IDENTIFIER_SYSTEM}
    assert titles == {local: ("v3" if local.endswith("-0") else "v1") for local in locals_}
    # what the partner accepted, per case, in the order it handled it: exactly the writes
    accepted: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for method, local, title, status in partner.log:
        if local and 200 <= status < 300:
            case = int(local.split("/")[1].split("-")[1])
            accepted[case].append((method, local, title))
    assert dict(accepted) == expected


# -- tests --------------------------------------------------------------------------------

def test_configuration_is_reliable_and_json_only():
    app = create_celery(Settings(celery_broker_url="redis://127.0.0.1:6379/0"),
                        ExecutorOptions(queue="q1", sweep_seconds=7))
    conf = app.conf
    assert conf.broker_url == "redis://127.0.0.1:6379/0"
    assert conf.task_acks_late is True and conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
    assert conf.task_ignore_result is True and not conf.result_backend
    assert conf.task_default_queue == "q1"
    assert conf.beat_schedule["hub-sync-sweep"] == {
        "task": SWEEP, "schedule": 7, "options": {"expires": 7}}
    assert {DELIVER_DUE, SWEEP} <= set(app.tasks)
    app.close()


def test_a_kick_without_a_broker_fails_fast_and_quietly():
    app = create_celery(Settings(celery_broker_url="amqp://guest:guest@127.0.0.1:1//"),
                        ExecutorOptions(queue="nowhere"))
    started = time.monotonic()
    assert kick(app) is False  # logged; the outbox keeps the rows for the sweep
    assert time.monotonic() - started < 5
    with pytest.raises(OperationalError):
        kick(app, raise_errors=True)
    app.close()


def test_kicks_deliver_every_row_once_in_case_order(db, partner, celery_worker, producer):
    worker = celery_worker("--batch", "2", "--pool", "threads", "--concurrency", "3")
    # failures on the way: the failed rows are retried by countdown kicks (no sweep runs
    # in this worker), and the rows behind them in their case wait for them
    partner.inject(Fault(500, method="POST"), Fault(503, method="PUT"),
                   Fault(429, headers={"Retry-After": "1"}, method="POST"))
    expected = {}
    for case in range(CASES - 1):
        expected[case] = _write_case(db, case)
        assert kick(producer, raise_errors=True)  # after each write, as the hub does
    expected[CASES - 1] = _write_case(db, CASES - 1)
    result = CliRunner().invoke(main, ["celery", "kick"], env={
        "HUB_CELERY_BROKER_URL": producer.conf.broker_url,
        "HUB_CELERY_QUEUE": producer.conf.task_default_queue})
    assert result.exit_code == 0, result.output
    rows = _wait_all_done(db, worker, CASES * 5)

    assert not partner.faults  # every fault was met, and retried
    assert all(r.claimed_by is None for r in rows)
    assert sum(r.attempts for r in rows) == len(rows) + 3
    _assert_exactly_once_in_order(partner, expected)
    log = worker.log()
    assert f"Task {DELIVER_DUE}" in log and f"Task {SWEEP}" not in log  # kicks, no sweep
    assert log.count("delivered #") == len(rows)  # by the hub's Worker.process


def test_the_sweep_delivers_rows_whose_message_was_lost(db, partner, celery_worker, producer,
                                                       tmp_path):
    from kombu import Queue

    # the rows are committed and kicked, but the kick is lost before any worker gets it
    expected = {case: _write_case(db, case) for case in range(2)}
    assert kick(producer, raise_errors=True)
    with producer.connection_for_write() as conn:
        assert Queue(producer.conf.task_default_queue, channel=conn.default_channel).purge() == 1
    worker = celery_worker("--beat", "--sweep-seconds", "1", "--pool", "solo",
                           "--schedule-file", str(tmp_path / "beat-schedule"))
    _wait_all_done(db, worker, 2 * 5)
    _assert_exactly_once_in_order(partner, expected)
    log = worker.log()
    # the sweep started it (a deliver_due may follow: a sweep meeting a backlog fans out)
    first_sweep = log.find(f"Task {SWEEP}[")
    first_kick = log.find(f"Task {DELIVER_DUE}[")
    assert 0 <= first_sweep < log.find("delivered #")
    assert first_kick == -1 or first_sweep < first_kick
    if hasattr(Worker, "schedule_pulls"):  # the sweep also schedules the partners' pulls
        from hub.sync.pulls import pull_types

        assert {r.resource_type for r in _rows(db, pulls=True)} == set(
            pull_types(loopback_partner(partner.server)))
