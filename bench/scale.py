"""Scale-out on one machine: N gunicorn workers serving the API, M delivery processes.

Three measurements on one database (PostgreSQL for the real numbers: several processes
writing one SQLite file queue on its single write lock):

1. **HTTP vs N** (``--gunicorn 1,2``): ``gunicorn -w N hub.wsgi:app`` (sync workers, as
   docker-compose.yml runs it, ``PROMETHEUS_MULTIPROC_DIR`` set), the sync worker off;
   ``--requests`` FHIR creates (``POST /fhir/Patient``) then as many reads
   (``GET /fhir/Patient/{id}`` of the created ones) from ``--concurrency`` client threads.
2. **deliveries vs M** (``--workers 1,2``): M ``hub worker`` processes started on an empty
   outbox; then ``--deliveries`` rows over ``--cases`` cases are committed at once (a
   CarePlan create then updates per case, as bench/outbox.py) and the drain is timed until
   every row is done, against the quick partner of bench/outbox.py (a child process).
3. **the Celery executor vs M** (``--celery amqp://…``): the same with M
   ``hub celery worker --concurrency 1`` processes on a queue of this run alone
   (``bench-scale-<random>``, deleted at the end), started by one kick.

Throughput is printed per N and M, with ``RATIO`` lines for 2/1 (the scaling factor: 2.0 is
linear). The machine running the client, the partner, the database and the workers is
the limit (see docs/scaling.md); the load average is printed at start and end.

    python -m bench.scale --database-url postgresql+psycopg://postgres@127.0.0.1/hub_bench \\
        --reset --celery amqp://guest:guest@127.0.0.1:5672//
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    ServerProcess,
    between_machine_lines,
    print_table,
    ratio,
    ratio_line,
    run_load,
)
from bench.outbox import PARTNER_ID, careplan, partner_app

FHIR_JSON = "application/fhir+json"
START_TIMEOUT = 90.0


@dataclass
class Options:
    gunicorn: list[int] = field(default_factory=lambda: [1, 2])
    workers: list[int] = field(default_factory=lambda: [1, 2])
    requests: int = 400
    concurrency: int = 4
    deliveries: int = 1000
    cases: int = 100
    worker_concurrency: int = 4
    celery: str | None = None
    database_url: str | None = None
    reset: bool = False
    time_limit: float = 300.0


# -- processes ------------------------------------------------------------------------------

class Child:
    """A subprocess in its own session (the whole group is ended), logging to a file."""

    def __init__(self, argv: list[str], env: dict, logfile: Path) -> None:
        self.logfile = logfile
        with logfile.open("wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.logfile.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.logfile.name}: no {text!r} within {timeout}s:\n"
                                   f"{self.log()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        try:  # what is left of its group (gunicorn workers, celery pool children)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    """A console script of this virtualenv (gunicorn), beside the interpreter."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} is not installed: pip install -e '.[bench]'")
    return found


# -- the database -----------------------------------------------------------------------------

def prepare(url: str | None, reset: bool, workdir: Path) -> str:
    from hub.store.migrate import upgrade

    if url:
        from bench.fhir_api import prepare_external

        prepare_external(url, reset)  # PostgreSQL: schema public dropped with --reset
    else:
        url = f"sqlite:///{workdir / 'hub.db'}"
    upgrade(url)
    return url


def empty_sync_tables(db) -> None:
    from hub.store.sync_tables import outbox, sync_cursors, sync_links

    with db.engine.begin() as conn:
        for table in (outbox, sync_links, sync_cursors):
            conn.execute(table.delete())


def enqueue_all(db, tag: str, deliveries: int, cases: int) -> None:
    """Every row in one transaction (the drain is what is measured), round-robin over the
    cases: a case's first row creates its CarePlan, the next ones update it."""
    from hub.sync import outbox

    revisions = [0] * cases
    with db.sessions() as session:
        for n in range(deliveries):
            case = n % cases
            local_id, revision = f"cp-{tag}-{case}", revisions[case]
            revisions[case] += 1
            outbox.enqueue(session, partner_id=PARTNER_ID, case_id=f"case-{tag}-{case}",
                           resource_type="CarePlan", resource_id=local_id,
                           operation="create" if revision == 0 else "update",
                           payload=careplan(local_id, case, revision),
                           resource_version=str(revision + 1))
        session.commit()


def wait_drained(db, tag: str, total: int, time_limit: float) -> tuple[float, dict[str, int]]:
    """Until the ``total`` rows of ``tag`` are done or dead (the workers' own pull rows are
    not counted); (seconds, counts by status)."""
    from sqlalchemy import func, select

    from hub.store.sync_tables import outbox

    query = (select(outbox.c.status, func.count()).where(outbox.c.case_id.like(f"case-{tag}-%"))
             .group_by(outbox.c.status))
    start = time.perf_counter()
    deadline = start + time_limit
    while True:
        with db.engine.connect() as conn:
            counts = dict.fromkeys(("pending", "in-flight", "done", "dead"), 0)
            counts.update(dict(conn.execute(query).all()))
        if counts["done"] + counts["dead"] >= total or time.perf_counter() > deadline:
            return time.perf_counter() - start, counts
        time.sleep(0.02)


# -- the measurements -------------------------------------------------------------------------

def hub_env(url: str, secret_key: str, partners_file: Path, metrics_dir: Path) -> dict:
    env = dict(os.environ, HUB_DATABASE_URL=url, HUB_SECRET_KEY=secret_key,
               HUB_PARTNERS_FILE=str(partners_file), HUB_SYNC_WORKER="false",
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), PYTHONWARNINGS="ignore")
    env.pop("HUB_SYNC_EXECUTOR", None)
    return env


def measure_http(n: int, opts: Options, env: dict, db, workdir: Path) -> dict[str, object]:
    """Creates then reads against ``gunicorn -w n``; LoadResults by scenario."""
    from bench.fhir_api import TokenSource

    port = free_port()
    metrics_dir = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    server = Child([_bin("gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(n),
                    "hub.wsgi:app"], env, workdir / f"gunicorn-{n}.log")
    try:
        server.wait_for("Booting worker")
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/fhir/metadata")
        tokens = TokenSource(db, base)
        auth = tokens.headers() | {"Content-Type": FHIR_JSON}
        created: list[str] = []

        def create(i: int):
            body = json.dumps({"resourceType": "Patient", "active": True,
                               "name": [{"family": f"Scale{n}", "given": [f"P{i}"]}],
                               "birthDate": "1950-01-01"}).encode()
            return "POST", "/fhir/Patient", body, auth

        import requests

        creates = run_load(base, create, opts.requests, concurrency=opts.concurrency,
                           expect=201, time_limit=opts.time_limit)
        with requests.Session() as s:  # the ids to read: the newest Patients
            bundle = s.get(base + "/fhir/Patient", params={"_count": 200}, headers=auth,
                           timeout=60).json()
        created = [e["resource"]["id"] for e in bundle.get("entry", [])] or ["missing"]

        def read(i: int):
            return "GET", f"/fhir/Patient/{created[i % len(created)]}", None, auth

        reads = run_load(base, read, opts.requests, concurrency=opts.concurrency, expect=200,
                         time_limit=opts.time_limit)
    finally:
        server.stop()
    return {"create": creates, "read": reads}


def _wait_http(url: str, timeout: float = START_TIMEOUT) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=30).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout}s")
        time.sleep(0.1)


def measure_workers(m: int, opts: Options, env: dict, db, workdir: Path, *,
                    celery_queue: str | None = None) -> tuple[float, dict[str, int]]:
    """M ``hub worker`` (or ``hub celery worker``) processes drain the rows: (s, counts)."""
    empty_sync_tables(db)
    tag = f"{'celery' if celery_queue else 'worker'}{m}-{uuid.uuid4().hex[:4]}"
    children: list[Child] = []
    try:
        for k in range(m):
            if celery_queue:
                argv = [sys.executable, "-m", "hub.commands.celery", "worker",
                        "--queue", celery_queue, "--batch", "32", "--concurrency", "1",
                        "--hostname", f"{celery_queue}-{k}@%h", "--without-gossip",
                        "--without-mingle", "--loglevel", "INFO"]
                ready = " ready."
            else:
                argv = [sys.executable, "-m", "hub.commands.deliveries",
                        "--concurrency", str(opts.worker_concurrency), "--idle-seconds", "0.05"]
                ready = "delivering from"
            child_env = dict(env, HUB_CELERY_QUEUE=celery_queue) if celery_queue else env
            children.append(Child(argv, child_env, workdir / f"{tag}-{k}.log"))
        for child in children:
            child.wait_for(ready)
        enqueue_all(db, tag, opts.deliveries, opts.cases)
        if celery_queue:
            kick_queue(env, celery_queue)
        return wait_drained(db, tag, opts.deliveries, opts.time_limit)
    finally:
        for child in children:
            child.stop()


def kick_queue(env: dict, queue: str) -> None:
    from hub.config import Settings
    from hub.sync.celery_app import ExecutorOptions, create_celery, kick

    app = create_celery(Settings(celery_broker_url=env["HUB_CELERY_BROKER_URL"]),
                        ExecutorOptions(queue=queue))
    try:
        kick(app, raise_errors=True)
    finally:
        app.close()


def delete_queue(broker: str, queue: str) -> None:
    from kombu import Connection, Queue

    try:
        with Connection(broker, connect_timeout=3) as conn:
            Queue(queue, channel=conn.default_channel).delete()
    except Exception:
        pass


# -- the run -----------------------------------------------------------------------------------

def run(opts: Options, out) -> dict:
    from hub.store.db import Database

    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-scale-"))
    results: dict = {"http": {}, "workers": {}, "celery": {}}
    partner = None
    db = None
    queue = f"bench-scale-{uuid.uuid4().hex[:10]}" if opts.celery else None
    try:
        url = prepare(opts.database_url, opts.reset, workdir)
        db = Database(url)
        partner = ServerProcess(partner_app, kind="werkzeug")
        partners_file = workdir / "partners.json"
        partners_file.write_text(json.dumps({"partners": [{
            "id": PARTNER_ID, "kind": "hospital", "base_url": partner.base_url + "/fhir",
            "timeouts": {"connect": 5, "read": 30}}]}))
        env = hub_env(url, secrets.token_urlsafe(32), partners_file, workdir / "metrics")
        if opts.celery:
            env["HUB_CELERY_BROKER_URL"] = opts.celery
        print(f"database {db.engine.dialect.name}; partner {partner.base_url}/fhir (werkzeug, "
              f"child process); work files in {workdir}", file=out, flush=True)
        for n in opts.gunicorn:
            results["http"][n] = measure_http(n, opts, env, db, workdir)
        for m in opts.workers:
            results["workers"][m] = measure_workers(m, opts, env, db, workdir)
        if queue:
            for m in opts.workers:
                results["celery"][m] = measure_workers(m, opts, env, db, workdir,
                                                       celery_queue=queue)
    finally:
        if queue and opts.celery:
            delete_queue(opts.celery, queue)
        if partner is not None:
            partner.stop()
        if db is not None:
            db.dispose()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def report(results: dict, opts: Options, out) -> None:
    rows = []
    for n, res in results["http"].items():
        rows.append([str(n)] + [f"{res[s].throughput:.0f}" for s in ("create", "read")]
                    + [str(res["create"].done + res["read"].done)])
        for scenario in ("create", "read"):
            r = res[scenario]
            if r.unexpected or r.errors or r.timed_out:
                print(f"  warning (gunicorn {n}, {scenario}): unexpected {r.unexpected}, "
                      f"errors {r.errors[:2]}, timed out {r.timed_out}", file=out)
    print(f"\nHTTP: {opts.requests} creates then {opts.requests} reads per N, "
          f"{opts.concurrency} client threads", file=out)
    print_table(["gunicorn workers", "create req/s", "read req/s", "answered"], rows, out)
    for kind, label in (("workers", "hub worker processes"), ("celery", "celery workers")):
        if not results[kind]:
            continue
        rows = []
        for m, (seconds, counts) in results[kind].items():
            rate = counts["done"] / seconds if seconds else 0.0
            rows.append([str(m), str(counts["done"]), f"{seconds:.2f}", f"{rate:.0f}"])
            if counts["done"] < opts.deliveries:
                print(f"  warning ({label} {m}): {opts.deliveries - counts['done']} not "
                      f"done ({counts['dead']} dead)", file=out)
        how = "--concurrency 1, batch 32" if kind == "celery" else \
            f"--concurrency {opts.worker_concurrency}"
        print(f"\ndeliveries: {opts.deliveries} rows over {opts.cases} cases, {label} "
              f"({how})", file=out)
        print_table([label, "delivered", "seconds", "deliveries/s"], rows, out)
    _ratios(results, out)


def _ratios(results: dict, out) -> None:
    http = results["http"]
    if 1 in http and 2 in http:
        for scenario in ("create", "read"):
            ratio_line("scale", f"http {scenario} gunicorn=2/1",
                       {"throughput": ratio(http[2][scenario].throughput,
                                            http[1][scenario].throughput)}, out)
    for kind, name in (("workers", "hub-worker"), ("celery", "celery")):
        got = results[kind]
        if 1 in got and 2 in got:
            rate = {m: (c["done"] / s if s else 0.0) for m, (s, c) in got.items()}
            ratio_line("scale", f"deliveries {name}=2/1", {"throughput": ratio(rate[2], rate[1])},
                       out)


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gunicorn", default="1,2", help="gunicorn worker counts N (comma list)")
    p.add_argument("--workers", default="1,2", help="delivery process counts M (comma list)")
    p.add_argument("--requests", type=int, default=400, help="creates, then reads, per N")
    p.add_argument("--concurrency", type=int, default=4, help="HTTP client threads")
    p.add_argument("--deliveries", type=int, default=1000, help="outbox rows per M")
    p.add_argument("--cases", type=int, default=100, help="cases the rows belong to")
    p.add_argument("--worker-concurrency", type=int, default=4,
                   help="delivery threads of each hub worker")
    p.add_argument("--celery", metavar="BROKER_URL",
                   help="also measure the Celery executor on this broker (own queue)")
    p.add_argument("--database-url", help="PostgreSQL (default: a fresh SQLite file, which "
                   "serializes writers: use it only to try the benchmark)")
    p.add_argument("--reset", action="store_true",
                   help="allow dropping schema public of --database-url")
    p.add_argument("--time-limit", type=float, default=300.0,
                   help="seconds one load batch or drain may take")
    a = p.parse_args(argv)

    def counts(text: str) -> list[int]:
        return [max(1, int(x)) for x in text.split(",") if x.strip()]

    return Options(gunicorn=counts(a.gunicorn), workers=counts(a.workers),
                   requests=max(1, a.requests), concurrency=max(1, a.concurrency),
                   deliveries=max(1, a.deliveries), cases=max(1, min(a.cases, a.deliveries)),
                   worker_concurrency=max(1, a.worker_concurrency), celery=a.celery,
                   database_url=a.database_url, reset=a.reset, time_limit=a.time_limit)


def main(argv: list[str] | None = None, out=None) -> int:
    opts = parse_args(argv)
    out = out or sys.stdout
    return between_machine_lines(
        "bench/scale.py: N gunicorn workers (HTTP) and M delivery processes (hub worker, "
        "Celery) on one database", out, lambda: report(run(opts, out), opts, out))


if __name__ == "__main__":
    sys.exit(main())
