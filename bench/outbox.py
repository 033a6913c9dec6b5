"""Benchmark of delivery through the durable outbox against a plain loop of the same requests.

M outbox rows for K cases (each case: a CarePlan ``create``, then ``update``s of it, as a
case being revised) are delivered by the worker's real path (``Worker.run_once``: claim a
batch, ``deliver`` through the partner's ``FhirRestClient``, ``outbox.finish`` with the
ledger links) to a local partner FHIR server that answers at once (a minimal werkzeug app,
threaded, in a child process; werkzeug's server closes each connection, so outbox and loop
alike pay a TCP connect per request). The partner records the requests it got; the
baseline replays exactly those requests (method, URL, headers, body) with
``requests.Session``, in a plain loop, to the same partner. Ratio: deliveries per second
of the outbox / requests per second of the loop.

Measured for each ``--concurrency`` c: the worker with c delivery threads against c loops
(one Session each), hub and baseline alternating for ``--rounds`` rounds. Enqueueing is
timed apart (it is the writers' cost, not delivery).

    python -m bench.outbox                       # M=500 deliveries, K=50 cases, c=1,4
    python -m bench.outbox --deliveries 5000 --cases 200
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ServerProcess, between_machine_lines, print_table, ratio, ratio_line

FHIR_JSON = "application/fhir+json"
PARTNER_ID = "bench-partner"


# -- the partner ----------------------------------------------------------------------------

class QuickPartner:
    """A FHIR partner that answers at once and keeps nothing but a request log.

    POST Type -> 201 (a new id, version 1, Location, the resource back); PUT Type/id ->
    200, version = If-Match version + 1; GET Type (a search) -> an empty searchset.
    ``bench_command("take")`` hands over (and clears) the recorded requests: (method,
    path?query, headers, body).
    """

    def __init__(self) -> None:
        import itertools

        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.recorded: list[tuple[str, str, dict, bytes]] = []
        self.recording = False

    def bench_command(self, message):
        with self._lock:
            if message == "record":
                self.recording, self.recorded = True, []
                return True
            if message == "take":
                taken, self.recorded, self.recording = self.recorded, [], False
                return taken
        return None

    def __call__(self, environ, start_response):
        import json

        method = environ["REQUEST_METHOD"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if self.recording:
            headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items()
                       if k.startswith("HTTP_") and k not in ("HTTP_HOST", "HTTP_CONNECTION",
                                                              "HTTP_CONTENT_LENGTH")}
            if environ.get("CONTENT_TYPE"):
                headers["Content-Type"] = environ["CONTENT_TYPE"]
            with self._lock:
                self.recorded.append((method, path + ("?" + query if query else ""),
                                      headers, raw))
        parts = path.strip("/").split("/")[1:]  # after "fhir"
        if method == "GET" and len(parts) == 1:  # a search (a hub worker's pulls): nothing
            body = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0,
                               "entry": []}).encode()
            start_response("200 OK", [("Content-Type", FHIR_JSON),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if method == "POST" and len(parts) == 1:
            rid, version, status = f"p{next(self._ids)}", 1, "201 Created"
        elif method == "PUT" and len(parts) == 2:
            match = environ.get("HTTP_IF_MATCH", "").removeprefix("W/").strip('"')
            rid, version = parts[1], int(match) + 1 if match.isdigit() else 1
            status = "200 OK"
        else:
            body = json.dumps({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-supported", "diagnostics": path}]}).encode()
            start_response("404 Not Found", [("Content-Type", FHIR_JSON),
                                             ("Content-Length", str(len(body)))])
            return [body]
        resource = json.loads(raw) if raw else {}
        resource["id"] = rid
        resource["meta"] = {"versionId": str(version), "lastUpdated": "2026-11-23T12:00:00Z"}
        body = json.dumps(resource).encode()
        headers = [("Content-Type", FHIR_JSON), ("Content-Length", str(len(body))),
                   ("ETag", f'W/"{version}"')]
        if status.startswith("201"):
            headers.append(("Location", f"/fhir/{parts[0]}/{rid}/_history/{version}"))
        start_response(status, headers)
        return [body]


def partner_app():
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    return QuickPartner()


# -- the outbox rows ------------------------------------------------------------------------

def careplan(local_id: str, case: int, revision: int) -> dict:
    """A realistic CarePlan of a case (revision n changes the activities' progress)."""
    statuses = ("not-started", "scheduled", "in-progress", "completed")
    return {
        "resourceType": "CarePlan", "id": local_id,
        "meta": {"versionId": str(revision + 1), "lastUpdated": "2026-11-23T10:00:00Z"},
        "status": "active", "intent": "plan",
        "category": [{"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/"
                                  "careplan-category", "code": "assess-plan"}]}],
        "title": f"Care plan of case {case} (revision {revision})",
        "subject": {"reference": f"Patient/pat-{case}"},
        "period": {"start": "2026-11-01"},
        "author": {"reference": "Practitioner/case-manager-1"},
        "careTeam": [{"reference": f"CareTeam/team-{case}"}],
        "goal": [{"reference": f"Goal/goal-{case}-1"}, {"reference": f"Goal/goal-{case}-2"}],
        "activity": [{"detail": {
            "kind": "ServiceRequest", "status": statuses[(revision + i) % len(statuses)],
            "code": {"text": text}, "description": f"{text}, twice weekly"}}
            for i, text in enumerate(("Home health nursing visit", "Physical therapy",
                                      "Medication reconciliation"))],
        "note": [{"text": f"Reviewed with the patient and family (revision {revision})."}],
    }


def enqueue_rows(db, tag: str, deliveries: int, cases: int) -> float:
    """M rows over K cases, round-robin (so cases interleave in id order); seconds taken.

    One transaction per row, as the writers (a case change) do."""
    from hub.sync import outbox

    start = time.perf_counter()
    revisions = [0] * cases
    for n in range(deliveries):
        case = n % cases
        local_id = f"cp-{tag}-{case}"
        revision = revisions[case]
        revisions[case] += 1
        with db.sessions() as session:
            outbox.enqueue(session, partner_id=PARTNER_ID, case_id=f"case-{tag}-{case}",
                           resource_type="CarePlan", resource_id=local_id,
                           operation="create" if revision == 0 else "update",
                           payload=careplan(local_id, case, revision),
                           resource_version=str(revision + 1))
            session.commit()
    return time.perf_counter() - start


def empty_sync_tables(db) -> None:
    """Delete the outbox and ledger rows. On PostgreSQL the tables are then vacuumed: a
    round leaves thousands of dead row versions (each claim and finish rewrites its rows)
    and a server without autovacuum (this machine's has it off) would have later rounds
    and runs read ever more dead index entries (a claim of 32 rows took 70 ms after some
    twenty runs, 86,000 dead rows)."""
    from sqlalchemy import text

    from hub.store.sync_tables import outbox, sync_links

    with db.engine.begin() as conn:
        conn.execute(outbox.delete())
        conn.execute(sync_links.delete())
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE outbox, sync_links"))


def status_counts(db) -> dict[str, int]:
    from hub.sync import outbox

    with db.sessions() as session:
        return outbox.counts(session)


def drain(worker, db, total: int, time_limit: float) -> tuple[float, dict[str, int]]:
    """The steps of the worker's pipeline (as ``Worker.run`` loops them) until all
    ``total`` rows are done or dead (or the time limit)."""
    start = time.perf_counter()
    deadline = start + time_limit
    counts = status_counts(db)
    with worker.pipeline() as pipeline:
        while counts["done"] + counts["dead"] < total and time.perf_counter() < deadline:
            if not pipeline.step():
                counts = status_counts(db)
                if counts["done"] + counts["dead"] < total:
                    time.sleep(0.002)  # rows waiting on a retry backoff (should not happen)
    elapsed = time.perf_counter() - start
    return elapsed, status_counts(db)


def replay(base_url: str, recorded: list, concurrency: int, time_limit: float):
    """The recorded requests with ``requests.Session``: ``concurrency`` plain loops, each
    over its share (the requests of a case stay in one loop, in order). (seconds, ok)."""
    import requests

    shares: list[list] = [[] for _ in range(max(1, concurrency))]
    owner: dict[str, int] = {}
    for item in recorded:
        key = item[1].split("?")[0].rsplit("/", 1)[-1] if item[0] == "PUT" else None
        slot = owner.setdefault(key, len(owner) % len(shares)) if key else \
            sum(len(s) for s in shares) % len(shares)
        shares[slot].append(item)
    ok = [0] * len(shares)
    deadline = time.perf_counter() + time_limit

    def loop(index: int) -> None:
        with requests.Session() as session:
            for method, path, headers, body in shares[index]:
                if time.perf_counter() > deadline:
                    return
                resp = session.request(method, base_url + path, headers=headers,
                                       data=body or None, timeout=(5, 30))
                if resp.ok:
                    ok[index] += 1

    threads = [threading.Thread(target=loop, args=(i,), daemon=True)
               for i in range(len(shares))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 60)
    return time.perf_counter() - start, sum(ok)


@dataclass
class Options:
    deliveries: int = 500
    cases: int = 50
    concurrency: list[int] = None
    rounds: int = 2
    time_limit: float = 300.0
    database_url: str | None = None
    reset: bool = False
    profile: str | None = None


def partner_adapters(base: str):
    from hub.sync.partners import Partner, Timeouts
    from hub.sync.registry import Adapters

    return Adapters({PARTNER_ID: Partner(id=PARTNER_ID, kind="hospital",
                                         base_url=base + "/fhir",
                                         timeouts=Timeouts(connect=5.0, read=30.0))})


def warm_up(db, base: str, time_limit: float, rows: int = 20) -> None:
    """Untimed, before the rounds: the first deliveries of a process import the R4 model
    class of the resource type they send (``hub.sync.deliver._takes_identifiers``, ~0.1 s)
    and compile the outbox's statements, once per process (a running worker did long ago);
    the first timed round would carry it alone."""
    from hub.sync.worker import Worker

    empty_sync_tables(db)
    enqueue_rows(db, "warm", rows, max(1, rows // 2))
    adapters = partner_adapters(base)
    worker = Worker(db, adapters, "bench-warm-up", lease_seconds=120, concurrency=1)
    try:
        drain(worker, db, rows, time_limit)
    finally:
        worker.close()
        adapters.close()


def run(opts: Options, out) -> dict:
    from hub.store.db import Database
    from hub.store.migrate import upgrade
    from hub.sync.worker import Worker

    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-outbox-"))
    url = opts.database_url or f"sqlite:///{workdir / 'hub.db'}"
    if opts.database_url:
        prepare_external(url, opts.reset)
    results: dict[int, dict] = {}
    try:
        upgrade(url)
        db = Database(url)
        # werkzeug, as the numbers were measured (waitress would keep connections
        # alive but answers slower here: the ratio would flatter the hub)
        partner = ServerProcess(partner_app, kind="werkzeug")
        try:
            print(f"database {db.engine.dialect.name}; partner {partner.base_url}/fhir "
                  f"(werkzeug, threaded, child process pid {partner.pid})", file=out)
            base = partner.base_url
            warm_up(db, base, opts.time_limit)
            for c in opts.concurrency:
                res = results[c] = {"outbox": [0, 0.0], "loop": [0, 0.0], "enqueue": 0.0,
                                    "dead": 0, "failed_replays": 0, "cpu": [0.0, 0.0]}
                for r in range(opts.rounds):
                    tag = f"c{c}r{r}"
                    empty_sync_tables(db)
                    res["enqueue"] += enqueue_rows(db, tag, opts.deliveries, opts.cases)
                    adapters = partner_adapters(base)
                    worker = Worker(db, adapters, f"bench-{tag}", lease_seconds=120,
                                    concurrency=c)
                    try:
                        partner.command("record")
                        cpu = time.process_time()
                        with profiled(opts.profile, f"outbox-{db.engine.dialect.name}-{tag}",
                                      out):
                            seconds, counts = drain(worker, db, opts.deliveries,
                                                    opts.time_limit)
                        res["cpu"][0] += time.process_time() - cpu
                        recorded = partner.command("take")
                    finally:
                        worker.close()
                        adapters.close()
                    res["outbox"][0] += counts["done"]
                    res["outbox"][1] += seconds
                    res["dead"] += counts["dead"]
                    cpu = time.process_time()
                    loop_seconds, ok = replay(base, recorded, c, opts.time_limit)
                    res["cpu"][1] += time.process_time() - cpu
                    res["loop"][0] += ok
                    res["loop"][1] += loop_seconds
                    res["failed_replays"] += len(recorded) - ok
        finally:
            partner.stop()
            if "db" in locals():
                db.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


@contextmanager
def profiled(directory: str | None, name: str, out):
    """With ``--profile DIR``: pyinstrument samples the block (the drain) and writes
    ``DIR/name.txt`` (the call tree, in seconds of wall time) and ``DIR/name.html``."""
    if not directory:
        yield
        return
    try:
        from pyinstrument import Profiler
    except ModuleNotFoundError:
        raise SystemExit("--profile needs pyinstrument: pip install -e '.[bench]'") from None
    Path(directory).mkdir(parents=True, exist_ok=True)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        base = Path(directory) / name
        base.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False))
        base.with_suffix(".html").write_text(profiler.output_html())
        print(f"  profile: {base}.txt", file=out)


def report(results: dict, opts: Options, out) -> None:
    rows = []
    for c, res in results.items():
        (done, secs), (ok, loop_secs) = res["outbox"], res["loop"]
        outbox_rate, loop_rate = done / secs if secs else 0, ok / loop_secs if loop_secs else 0
        enq = opts.deliveries * opts.rounds / res["enqueue"] if res["enqueue"] else 0
        rows.append([str(c), str(done), f"{outbox_rate:.0f}", f"{loop_rate:.0f}",
                     f"{ratio(outbox_rate, loop_rate):.3f}",
                     f"{1000 / outbox_rate if outbox_rate else 0:.2f}",
                     f"{1000 / loop_rate if loop_rate else 0:.2f}",
                     f"{1000 * res['cpu'][0] / done if done else 0:.2f}",
                     f"{1000 * res['cpu'][1] / ok if ok else 0:.2f}", f"{enq:.0f}"])
        if res["dead"] or res["failed_replays"] or done < opts.deliveries * opts.rounds:
            print(f"  warning (concurrency {c}): {res['dead']} dead, "
                  f"{opts.deliveries * opts.rounds - done} not done, "
                  f"{res['failed_replays']} replayed requests failed", file=out)
    print(f"{opts.deliveries} deliveries x {opts.rounds} rounds over {opts.cases} cases "
          f"(first row of a case: create, then updates with If-Match)", file=out)
    print_table(["concurrency", "delivered", "outbox/s", "loop req/s", "ratio",
                 "outbox ms/each", "loop ms/each", "outbox CPU ms", "loop CPU ms",
                 "enqueue/s"], rows, out)
    for c, res in results.items():
        (done, secs), (ok, loop_secs) = res["outbox"], res["loop"]
        ratio_line("outbox", f"concurrency={c} deliveries/s outbox/plain-loop",
                   {"ratio": ratio(done / secs if secs else 0,
                                   ok / loop_secs if loop_secs else 0)}, out)


def prepare_external(url: str, reset: bool) -> None:
    """The outbox and links of an external database are emptied: only with ``--reset``."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        if {"outbox", "sync_links"} & tables and not reset:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT count(*) FROM outbox")).scalar_one()
            if rows:
                raise SystemExit(f"{url} has {rows} outbox rows; the benchmark deletes the "
                                 "outbox and sync_links rows: pass --reset if it may")
    finally:
        engine.dispose()


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deliveries", type=int, default=500, help="outbox rows per round (M)")
    p.add_argument("--cases", type=int, default=50, help="cases the rows belong to (K)")
    p.add_argument("--concurrency", default="1,4",
                   help="worker delivery threads = baseline loops, comma separated")
    p.add_argument("--rounds", type=int, default=2, help="outbox/loop rounds per concurrency")
    p.add_argument("--time-limit", type=float, default=300.0,
                   help="seconds one drain or replay may take")
    p.add_argument("--database-url", help="another database than a fresh SQLite file (its "
                   "outbox and sync_links rows are deleted)")
    p.add_argument("--reset", action="store_true",
                   help="allow deleting the outbox rows of --database-url")
    p.add_argument("--profile", metavar="DIR",
                   help="profile each drain with pyinstrument (the bench extra) into DIR")
    a = p.parse_args(argv)
    conc = [max(1, int(x)) for x in a.concurrency.split(",") if x.strip()]
    return Options(deliveries=max(1, a.deliveries), cases=max(1, min(a.cases, a.deliveries)),
                   concurrency=conc or [1], rounds=max(1, a.rounds), time_limit=a.time_limit,
                   database_url=a.database_url, reset=a.reset, profile=a.profile)


def main(argv: list[str] | None = None, out=None) -> int:
    opts = parse_args(argv)
    out = out or sys.stdout
    return between_machine_lines(
        "bench/outbox.py: outbox deliveries (Worker.run_once) vs a plain requests.Session "
        "loop of the same requests, same partner", out,
        lambda: report(run(opts, out), opts, out))


if __name__ == "__main__":
    sys.exit(main())
