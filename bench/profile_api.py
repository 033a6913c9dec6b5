"""Where the hub's time goes, per scenario of ``bench/fhir_api.py`` (pyinstrument).

Loads N resources exactly as ``bench/fhir_api.py`` does (same generator, same loader), builds
the hub's app as ``hub serve`` does (sync worker off) and sends each scenario's requests
through the Flask test client in this process, under pyinstrument. No HTTP server: what is
profiled is the hub's own work per request (Flask, authentication, SQL, JSON, the audit
record), which is what the throughput ratio of ``bench/fhir_api.py`` loses to the baseline.

    python -m bench.profile_api                         # 10,000 resources, 200 requests each
    python -m bench.profile_api --size 100000 --requests 300
    python -m bench.profile_api --database-url postgresql+psycopg://u@127.0.0.1/bench --reset
    python -m bench.profile_api --html /tmp/prof     # also one HTML profile per scenario
    python -m bench.profile_api --scenarios case-read,case-create --cases 50

The case API scenarios (``case-read``: ``GET /api/cases/{id}``, ``case-create``:
``POST /api/cases``, the requests of ``bench/case_api.py``) run on ``--cases`` cases opened
through the API first.

Prints, per scenario, the wall and CPU time per request (measured without the profiler;
a ``CPU`` line each: the CPU time of this process is what a machine shared with other
work changes least, so it compares two versions of the hub run at different moments),
and the SQL statements sent per request (``STATEMENTS`` lines: each cursor execute
counts once, an executemany included), how long each unit of work held the write lock
(``LOCKHOLD`` lines: from its first INSERT/UPDATE/DELETE, where SQLite takes its one write
lock, to the end of its commit; medians of wall and thread CPU ms),
then the pyinstrument call tree of as many
requests again (frames under ``--min-share`` percent of the time are hidden). Needs the ``bench`` extra
(``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import fhir_api


def _token(client, db) -> dict[str, str]:
    from hub.store.uow import UnitOfWork

    with UnitOfWork(db) as uow:
        registered, secret = uow.clients.create("profile client", "system/*.cruds")
        uow.commit()
    basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    resp = client.post("/auth/token", data={"grant_type": "client_credentials",
                                            "scope": "system/*.cruds"},
                       headers={"Authorization": f"Basic {basic}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {"Authorization": f"Bearer {resp.get_json()['access_token']}",
            "Accept": fhir_api.FHIR_JSON}


CASE_SCENARIOS = ("case-read", "case-create")
SCENARIOS = (*fhir_api.SCENARIOS, *CASE_SCENARIOS)
EXPECT = {**fhir_api.EXPECT, "case-read": 200, "case-create": 201}


class StatementCounter:
    """Counts the statements an engine sends (``before_cursor_execute``)."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args) -> None:
        self.count += 1


class WriteHolds:
    """How long each committed unit of work held the write lock: from its first
    data-changing statement (where SQLite takes its write lock, and the writer turn) to the
    end of its commit (the commit's own sync included: the session's ``after_commit``);
    wall and CPU ms of the writing thread. On PostgreSQL the same span: its writes' row and
    key locks are held as long. Transactions committed outside a session (a read's
    AuditEvent group commit) are not counted."""

    _WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)

    def __init__(self, db) -> None:
        from sqlalchemy import event

        self.held: list[tuple[float, float]] = []
        self._writing: dict[int, tuple[float, float]] = {}  # by DBAPI connection
        self._committing: dict[int, tuple[float, float] | None] = {}  # by thread
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(db.engine, "commit", self._commit)  # before the DBAPI commit
        event.listen(db.engine, "rollback", self._rollback)
        event.listen(db.sessions, "after_commit", self._committed)  # after it

    @staticmethod
    def _now() -> tuple[float, float]:
        return time.perf_counter(), time.thread_time()

    def _statement(self, conn, cursor, statement, *_args) -> None:
        key = id(cursor.connection)
        if key not in self._writing and self._WRITES.match(statement):
            self._writing[key] = self._now()

    def _commit(self, conn) -> None:
        started = self._writing.pop(id(conn.connection.dbapi_connection), None)
        self._committing[threading.get_ident()] = started  # None: it wrote nothing

    def _rollback(self, conn) -> None:
        self._writing.pop(id(conn.connection.dbapi_connection), None)

    def _committed(self, _session) -> None:
        started = self._committing.pop(threading.get_ident(), None)
        if started is not None:
            wall, cpu = self._now()
            self.held.append(((wall - started[0]) * 1000, (cpu - started[1]) * 1000))


def _case_maker(client, auth: dict, cases: int):
    """``make(scenario, count)`` of the case API scenarios, on ``cases`` cases opened
    through the API first (the requests of ``bench/case_api.py``)."""
    from bench import case_api

    tag = secrets.token_hex(3).upper()
    headers = {**auth, "Accept": "application/json", "Content-Type": "application/json"}
    ids = []
    for n in range(cases):
        resp = client.post("/api/cases", data=fhir_api.dumps(case_api.case_body(n, tag)),
                           headers=headers)
        if resp.status_code != 201:
            raise RuntimeError(f"opening case {n}: {resp.status_code} "
                               f"{resp.get_data(as_text=True)[:300]}")
        ids.append(resp.get_json()["id"])
    reqs = case_api.Requests(ids, cases, tag)
    return lambda scenario, count: reqs.maker(scenario.removeprefix("case-"), auth, count, 7)


def profile(size: int, requests: int, scenarios: list[str], *, database_url: str | None,
            reset: bool, html: Path | None, min_share: float, out,
            cases: int = 50) -> dict[str, float]:
    """CPU seconds per request of each scenario (and the profiles printed to ``out``)."""
    from hub.store.db import Database
    from hub.store.migrate import upgrade

    workdir = Path(tempfile.mkdtemp(prefix="hub-profile-"))
    url = database_url or f"sqlite:///{workdir / 'hub.db'}"
    if database_url:
        fhir_api.prepare_external(database_url, reset)
    means: dict[str, float] = {}
    try:
        upgrade(url)
        db = Database(url)
        try:
            loaded = fhir_api.load(db, size)
            print(f"loaded {loaded.total} resources in {loaded.seconds:.1f}s "
                  f"({loaded.loader} loader, {db.engine.dialect.name})", file=out)
            app = fhir_api.hub_app(url, secrets.token_urlsafe(32))
            client = app.test_client()
            counter = StatementCounter(app.extensions["hub.db"].engine)
            holds = WriteHolds(app.extensions["hub.db"])
            case_make = None
            for scenario in scenarios:
                auth = _token(client, db)  # a fresh one: tokens live 300 s at most
                if scenario in CASE_SCENARIOS:
                    if case_make is None:
                        case_make = _case_maker(client, auth, cases)
                    make = case_make(scenario, 10 + 2 * requests)
                else:
                    make = fhir_api.request_maker(scenario, loaded, auth, seed=7)
                means[scenario] = _measure(client, make, scenario, requests, counter,
                                           size=size, html=html, min_share=min_share,
                                           out=out, holds=holds)
            app.extensions["hub.db"].dispose()
        finally:
            db.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return means


def _measure(client, make, scenario: str, requests: int, counter: StatementCounter, *,
             size: int, html: Path | None, min_share: float, out,
             holds: WriteHolds | None = None) -> float:
    """Warm up, time ``requests`` requests unprofiled, then profile as many; CPU s each."""
    from pyinstrument import Profiler

    for i in range(10):  # warm-up: caches, prepared statements, pool
        _send(client, make(i), scenario)
    # unprofiled first: wall and CPU time of this process per request (CPU time is what a
    # loaded machine changes least: it does not count waiting for a core)
    sent = counter.count
    held = holds.held if holds is not None else []
    held.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(requests):
        _send(client, make(10 + i), scenario)
    wall = (time.perf_counter() - wall) / requests
    cpu = (time.process_time() - cpu) / requests
    statements = (counter.count - sent) / requests
    held = list(held)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for i in range(requests):
        _send(client, make(10 + requests + i), scenario)
    profiler.stop()
    print(f"\n== {scenario}: {requests} requests, {wall * 1000:.2f} ms wall, "
          f"{cpu * 1000:.2f} ms CPU, {statements:.1f} statements each (unprofiled) ==",
          file=out)
    print(f"CPU {scenario} size={size} cpu_ms={cpu * 1000:.3f} wall_ms={wall * 1000:.3f}",
          file=out)
    print(f"STATEMENTS {scenario} size={size} per_request={statements:.2f}", file=out)
    if held:
        print(f"LOCKHOLD {scenario} size={size} transactions={len(held)} "
              f"wall_ms_median={statistics.median(h[0] for h in held):.3f} "
              f"cpu_ms_median={statistics.median(h[1] for h in held):.3f}", file=out)
    print(profiler.output_text(unicode=False, color=False, show_all=False,
                               time="percent_of_total",
                               processor_options={"filter_threshold": min_share / 100}),
          file=out)
    if html is not None:
        html.mkdir(parents=True, exist_ok=True)
        (html / f"{size}-{scenario.replace('+', '-')}.html").write_text(profiler.output_html())
    return cpu


def _send(client, request, scenario: str) -> None:
    method, path, body, headers = request
    resp = client.open(path, method=method, data=body, headers=headers)
    if resp.status_code != EXPECT[scenario]:
        raise RuntimeError(f"{scenario}: {resp.status_code} {resp.get_data(as_text=True)[:300]}")


def main(argv: list[str] | None = None, out=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile_api",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--requests", type=int, default=200, help="profiled requests per scenario")
    p.add_argument("--scenarios", default=",".join(fhir_api.SCENARIOS),
                   help=f"of {', '.join(SCENARIOS)}")
    p.add_argument("--cases", type=int, default=50,
                   help="cases opened before the case API scenarios")
    p.add_argument("--database-url")
    p.add_argument("--reset", action="store_true")
    p.add_argument("--html", type=Path, help="a directory for one HTML profile per scenario")
    p.add_argument("--min-share", type=float, default=2.0,
                   help="hide frames under this percent of the time")
    a = p.parse_args(argv)
    out = out or sys.stdout
    print(fhir_api.machine_line(), file=out)
    scenarios = [s for s in a.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    profile(max(4, a.size), max(1, a.requests), scenarios, database_url=a.database_url,
            reset=a.reset, html=a.html, min_share=a.min_share, out=out,
            cases=max(1, a.cases))
    print(fhir_api.machine_line(), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
