"""Benchmark of the case API (``/api/cases``) over real HTTP against a trivial WSGI baseline.

Measured like ``bench/fhir_api.py``: the hub served as ``hub serve`` does in a child process
(granian, sync worker off; or ``--server``), a baseline that answers the same bytes
(``FixedAnswers``, served alike, its own child process), interleaved rounds of
hub and baseline batches from client threads each with its own ``requests.Session``, and
one ``RATIO`` line per scenario.

* read:    ``GET /api/cases/{id}`` (the cases opened before measuring, in random order)
* create:  ``POST /api/cases`` (a new case of a new patient: the fixture case
  ``fixtures/cases/river.json`` with its own MRN, member id and name per request; one
  patient per identity and one open case per patient and program hold, so each body is
  new)

Before measuring, ``--cases`` cases are opened through the API itself (plain HTTP, one at
a time), so the store holds realistic cases with their projected FHIR resources.

    python -m bench.case_api                       # 200 cases, 400 requests per scenario
    python -m bench.case_api --cases 1000 --requests 800
    python -m bench.case_api --database-url postgresql+psycopg://u@127.0.0.1/bench --reset
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    Captured,
    FixedAnswers,
    LoadResult,
    ServerProcess,
    add_server_options,
    between_machine_lines,
    capture,
    cpu_line,
    database_cpu_probe,
    dumps,
    memory_line,
    ms,
    percentile,
    print_table,
    ratio,
    ratio_line,
    run_load,
    server_config,
    server_label,
    server_title,
)
from bench.fhir_api import TokenSource, hub_app, prepare_external

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "cases" / "river.json"
SCENARIOS = ("read", "create")
EXPECT = {"read": 200, "create": 201}
FAMILIES = ("Okafor", "Nguyen", "Schmidt", "García", "Kowalski", "Haddad", "Johansson")


def case_body(n: int, tag: str) -> dict:
    """The fixture case for patient number ``n`` (``tag`` keeps runs and sizes apart)."""
    body = copy.deepcopy(json.loads(FIXTURE.read_text()))
    patient = body["patient"]
    patient["name"] = {"family": FAMILIES[n % len(FAMILIES)], "given": [f"Bench{n}"]}
    for ident in patient.get("identifiers", []):
        ident["value"] = f"{ident['kind'].upper()}-{tag}-{n:07d}"
    return body


def route(method: str, _query: str) -> str:
    return "create" if method == "POST" else "read"


def baseline_app(answers: dict[str, Captured]):
    return FixedAnswers(answers, route)


@dataclass
class Options:
    cases: int = 200
    requests: int = 400
    concurrency: int = 4
    rounds: int = 2
    warmup: int = 20
    batch_time_limit: float = 120.0
    database_url: str | None = None
    reset: bool = False
    seed: int = 4
    server: str = "granian"
    workers: int = 2

    @property
    def label(self) -> str:
        return server_label(self.server, self.workers)


def open_cases(hub_url: str, headers: dict, count: int, tag: str) -> list[str]:
    """Open ``count`` cases through the API, one at a time; their ids."""
    import requests

    ids = []
    with requests.Session() as session:
        for n in range(count):
            resp = session.post(hub_url + "/api/cases", data=dumps(case_body(n, tag)),
                                headers={**headers, "Content-Type": "application/json"},
                                timeout=60)
            if resp.status_code != 201:
                raise RuntimeError(f"opening case {n}: {resp.status_code} {resp.text[:300]}")
            ids.append(resp.json()["id"])
    return ids


class Requests:
    """``make(i)`` of a scenario; create bodies are numbered on from ``first`` so every
    POST (hub or baseline, any round) carries a patient never seen before."""

    def __init__(self, ids: list[str], first: int, tag: str) -> None:
        self.ids = ids
        self.next = first
        self.tag = tag

    def maker(self, scenario: str, auth: dict, count: int, seed: int):
        rng = random.Random(seed)
        ids = list(self.ids)
        rng.shuffle(ids)
        bodies: list[bytes] = []
        if scenario == "create":
            bodies = [dumps(case_body(self.next + k, self.tag)) for k in range(count)]
            self.next += count
        headers = {**auth, "Accept": "application/json"}
        post_headers = {**headers, "Content-Type": "application/json"}

        def make(i: int):
            if scenario == "read":
                return "GET", f"/api/cases/{ids[i % len(ids)]}", None, headers
            return "POST", "/api/cases", bodies[i % len(bodies)], post_headers

        return make


def capture_answers(hub_url: str, reqs: Requests, auth: dict) -> dict[str, Captured]:
    import requests

    answers = {}
    with requests.Session() as session:
        for scenario in SCENARIOS:
            method, path, body, headers = reqs.maker(scenario, auth, 1, 0)(0)
            resp = session.request(method, hub_url + path, data=body, headers=headers,
                                   timeout=60)
            if resp.status_code != EXPECT[scenario]:
                raise RuntimeError(f"{scenario}: the hub answered {resp.status_code}: "
                                   f"{resp.text[:500]}")
            answers[scenario] = capture(resp)
    return answers


def run(opts: Options, out) -> dict[str, dict[str, LoadResult]]:
    from hub.store.db import Database
    from hub.store.migrate import upgrade

    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-cases-"))
    tag = secrets.token_hex(3).upper()
    try:
        if opts.database_url:
            url = opts.database_url
            prepare_external(url, opts.reset)
        else:
            url = f"sqlite:///{workdir / 'hub.db'}"
        upgrade(url)
        db = Database(url)
        try:
            print(f"\n== case API, {db.engine.dialect.name} ==", file=out)
            kind, config = server_config(opts.server, opts.workers)
            with ServerProcess(hub_app, (url, secrets.token_urlsafe(32)), kind=kind,
                               config=config) as hub:
                tokens = TokenSource(db, hub.base_url)
                start = time.perf_counter()
                ids = open_cases(hub.base_url, tokens.headers(), opts.cases, tag)
                took = time.perf_counter() - start
                print(f"opened {len(ids)} cases through POST /api/cases in {took:.1f}s "
                      f"({len(ids) / took if took else 0:.0f}/s, one at a time)", file=out,
                      flush=True)
                reqs = Requests(ids, opts.cases, tag)
                answers = capture_answers(hub.base_url, reqs, tokens.headers())
                with ServerProcess(baseline_app, (answers,), kind=kind, config=config) as base:
                    results = _measure(hub.base_url, base.base_url, reqs, tokens, opts,
                                       pids={"hub": hub.pid, "baseline": base.pid})
                memory_line("case_api", f"{opts.label}cases={opts.cases} hub server process",
                            hub.pid, out)
            sizes = {s: len(answers[s].body) for s in SCENARIOS}
        finally:
            db.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _report(results, sizes, opts, out)
    return results


def _measure(hub_url: str, base_url: str, reqs: Requests, tokens: TokenSource,
             opts: Options, pids: dict[str, int | None] | None = None,
             ) -> dict[str, dict[str, LoadResult]]:
    results: dict[str, dict[str, LoadResult]] = {}
    per_round = max(1, opts.requests // opts.rounds)
    for scenario in SCENARIOS:
        results[scenario] = {"hub": LoadResult(), "baseline": LoadResult()}
        for url in (hub_url, base_url):
            make = reqs.maker(scenario, tokens.headers(), opts.warmup, opts.seed + 1)
            run_load(url, make, opts.warmup, concurrency=opts.concurrency,
                     expect=EXPECT[scenario], time_limit=opts.batch_time_limit)
        for r in range(opts.rounds):
            order = (("hub", hub_url), ("baseline", base_url))
            for target, url in order if r % 2 == 0 else order[::-1]:
                make = reqs.maker(scenario, tokens.headers(), per_round, opts.seed + 2 + r)
                batch = run_load(url, make, per_round, concurrency=opts.concurrency,
                                 expect=EXPECT[scenario], time_limit=opts.batch_time_limit,
                                 server_pid=(pids or {}).get(target),
                                 database_cpu=database_cpu_probe(opts.database_url))
                results[scenario][target] = results[scenario][target].merge(batch)
    return results


def _report(results, body_sizes: dict[str, int], opts: Options, out) -> None:
    rows = []
    for scenario in SCENARIOS:
        hub, base = results[scenario]["hub"], results[scenario]["baseline"]
        row = [scenario, f"{body_sizes[scenario]}", f"{hub.done}", f"{hub.throughput:.0f}",
               f"{base.throughput:.0f}", f"{ratio(hub.throughput, base.throughput):.3f}"]
        for pct in (50, 95, 99):
            h, b = percentile(hub.latencies, pct), percentile(base.latencies, pct)
            row.append(f"{ms(h)}/{ms(b)} x{ratio(h, b):.1f}")
        rows.append(row)
        for target, r in (("hub", hub), ("baseline", base)):
            if r.unexpected or r.errors:
                print(f"  warning ({scenario}): {target}: {r.unexpected} {r.errors[:2]}",
                      file=out)
            if r.timed_out:
                print(f"  warning ({scenario}): {target}: a batch hit --batch-time-limit",
                      file=out)
    print(f"concurrency {opts.concurrency} client threads, {opts.rounds} interleaved "
          f"rounds; latency columns: hub/baseline ms and hub/baseline ratio", file=out)
    print_table(["scenario", "body B", "n", "hub req/s", "base req/s", "thr ratio",
                 "p50 ms", "p95 ms", "p99 ms"], rows, out)
    for scenario in SCENARIOS:
        hub, base = results[scenario]["hub"], results[scenario]["baseline"]
        ratio_line("case_api", f"{opts.label}cases={opts.cases} {scenario} hub/baseline", {
            "throughput": ratio(hub.throughput, base.throughput),
            **{f"p{p}": ratio(percentile(hub.latencies, p), percentile(base.latencies, p))
               for p in (50, 95, 99)}}, out)
        cpu_line("case_api", f"{opts.label}cases={opts.cases} {scenario}", hub, base, out)


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.case_api", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=200, help="cases opened before measuring")
    p.add_argument("--requests", type=int, default=400,
                   help="measured requests per scenario and target (split over rounds)")
    p.add_argument("--concurrency", type=int, default=4, help="client threads")
    p.add_argument("--rounds", type=int, default=2, help="interleaved hub/baseline rounds")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured requests per target")
    p.add_argument("--batch-time-limit", type=float, default=120.0,
                   help="seconds a batch may take (tokens live 300 s)")
    p.add_argument("--database-url", help="a PostgreSQL database instead of a fresh SQLite "
                   "file (emptied first: needs --reset if it has tables)")
    p.add_argument("--reset", action="store_true",
                   help="allow dropping schema public of --database-url")
    p.add_argument("--seed", type=int, default=4)
    add_server_options(p)
    a = p.parse_args(argv)
    return Options(cases=max(1, a.cases), requests=max(1, a.requests),
                   concurrency=max(1, a.concurrency), rounds=max(1, a.rounds),
                   warmup=max(1, a.warmup), batch_time_limit=a.batch_time_limit,
                   database_url=a.database_url, reset=a.reset, seed=a.seed,
                   server=a.server, workers=max(1, a.workers))


def main(argv: list[str] | None = None, out=None) -> int:
    opts = parse_args(argv)
    out = out or sys.stdout
    return between_machine_lines(
        "bench/case_api.py: /api/cases over HTTP vs a fixed-answer WSGI baseline on the same "
        f"server: {server_title(opts.server, opts.workers)}", out, lambda: run(opts, out))


if __name__ == "__main__":
    sys.exit(main())
