"""Benchmark of the FHIR REST API over real HTTP against a trivial WSGI baseline.

For each size N it loads N resources (Patients, ServiceRequests (referrals), Tasks with
owners and statuses, Encounters referencing them; plus the few owner Organizations) into a
fresh database through ``ResourceRepository`` in large transactions, serves the hub as
``hub serve`` does (granian, ``hub.serving``; or ``--server``) on 127.0.0.1 and measures,
from a pool of client threads each with its own ``requests.Session``:

* read:            ``GET /fhir/Task/{id}`` (ids of the loaded Tasks, in random order)
* search:          ``GET /fhir/Task?owner=Organization/x&status=requested&_count=20``
* search+include:  the same with ``&_include=Task:focus``
* create:          ``POST /fhir/Encounter``

Baseline: a trivial WSGI app served by the same server and settings that answers the same
bytes (the body, status and headers captured from the hub for that request), so the
ratio hub/baseline is what the hub adds over HTTP + the server + the client. Hub and
baseline batches are interleaved (``--rounds``) so that load from other processes hits
both alike. The token comes from a real client: registered with the clients repository,
then ``POST /auth/token`` (client_secret_basic), one fresh token per batch.

    python -m bench.fhir_api                          # quick: --sizes 1000,10000
    python -m bench.fhir_api --sizes 1000,100000      # full (loading 100k takes minutes)
    python -m bench.fhir_api --database-url postgresql+psycopg://u@127.0.0.1/bench --reset
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    Captured,
    FixedAnswers,
    LoadResult,
    ServerProcess,
    add_server_options,
    capture,
    cpu_line,
    database_cpu_probe,
    dumps,
    machine_line,
    memory_line,
    ms,
    percentile,
    print_table,
    ratio,
    ratio_line,
    report_server_side,
    run_load,
    scrape_latency,
    server_config,
    server_label,
    server_title,
)

FHIR_JSON = "application/fhir+json"
#: Each owner Organization gets about this many Tasks, whatever N: the search answers a
#: full page (and a similar total) at every size, so the 100k/1k ratio shows what the
#: size of the store costs, not a bigger answer.
TASKS_PER_OWNER = 200
TASK_STATUSES = (("requested", 30), ("accepted", 15), ("in-progress", 20),
                 ("completed", 25), ("rejected", 5), ("cancelled", 5))
SCENARIOS = ("read", "search", "search+include", "create")
HUB_ORG = "Organization/hub"

FAMILIES = ("Okafor", "Nguyen", "Schmidt", "García", "Kowalski", "Haddad", "Johansson",
            "Rossi", "Müller", "Tanaka", "Dubois", "O'Brien", "Singh", "Silva", "Novak")
GIVEN = ("Amara", "Linh", "Jonas", "Lucía", "Piotr", "Yasmin", "Erik", "Giulia", "Hanna",
         "Kenji", "Élodie", "Sean", "Priya", "João", "Eva", "Noor", "Tomás", "Ada")
CITIES = (("Springfield", "IL", "62701"), ("Riverton", "WY", "82501"),
          ("Fairview", "OR", "97024"), ("Lakewood", "CO", "80226"))
REFERRALS = (("385763009", "Hospice care"), ("183856001", "Referral to home health service"),
             ("410155007", "Occupational therapy assessment"),
             ("225358003", "Wound care"), ("386053000", "Evaluation procedure"))


# -- the data -------------------------------------------------------------------------------

def _id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _date(rng: random.Random, year_from: int, year_to: int) -> str:
    return f"{rng.randint(year_from, year_to)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _instant(rng: random.Random) -> str:
    return (f"{_date(rng, 2024, 2026)}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d}Z")


def _status(rng: random.Random) -> str:
    pick = rng.randrange(100)
    for status, weight in TASK_STATUSES:
        if pick < weight:
            return status
        pick -= weight
    return TASK_STATUSES[-1][0]


def owner_count(size: int) -> int:
    return max(1, round(size / 4 / TASKS_PER_OWNER))


def agency(k: int) -> str:
    return f"agency-{k:04d}"


def patient(rng: random.Random, pid: str, n: int) -> dict:
    family, given = rng.choice(FAMILIES), rng.choice(GIVEN)
    city, state, postal = rng.choice(CITIES)
    return {
        "resourceType": "Patient", "id": pid,
        "identifier": [{"use": "usual", "type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": "urn:oid:2.16.840.1.113883.19.5", "value": f"MRN{n:08d}"}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": f"555-{rng.randint(1000, 9999)}",
                     "use": "home"}],
        "gender": rng.choice(("female", "male")),
        "birthDate": _date(rng, 1930, 2005),
        "address": [{"use": "home", "line": [f"{rng.randint(1, 999)} Main St"],
                     "city": city, "state": state, "postalCode": postal, "country": "US"}],
    }


def service_request(rng: random.Random, sid: str, pid: str, owner: str, n: int) -> dict:
    code, display = rng.choice(REFERRALS)
    return {
        "resourceType": "ServiceRequest", "id": sid,
        "identifier": [{"system": "urn:fhir-case-hub:referral", "value": f"REF-{n:08d}"}],
        "status": rng.choice(("active", "active", "completed")), "intent": "order",
        "priority": rng.choice(("routine", "routine", "urgent")),
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "409063005",
                                  "display": "Counseling"}]}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code,
                             "display": display}], "text": display},
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": _instant(rng),
        "requester": {"reference": HUB_ORG, "display": "Case management hub"},
        "performer": [{"reference": f"Organization/{owner}"}],
        "note": [{"text": "Discharged home; needs visits twice weekly for four weeks."}],
    }


def task(rng: random.Random, tid: str, pid: str, sid: str, owner: str, n: int) -> dict:
    status = _status(rng)
    authored = _instant(rng)
    body = {
        "resourceType": "Task", "id": tid,
        "identifier": [{"system": "urn:fhir-case-hub:task", "value": f"TASK-{n:08d}"}],
        "basedOn": [{"reference": f"ServiceRequest/{sid}"}],
        "status": status, "intent": "order", "priority": "routine",
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                             "code": "fulfill"}]},
        "focus": {"reference": f"ServiceRequest/{sid}"},
        "for": {"reference": f"Patient/{pid}"},
        "authoredOn": authored, "lastModified": authored,
        "requester": {"reference": HUB_ORG},
        "owner": {"reference": f"Organization/{owner}"},
    }
    if status in ("accepted", "in-progress", "completed"):
        body["businessStatus"] = {"text": {"accepted": "visit scheduled",
                                           "in-progress": "visits ongoing",
                                           "completed": "discharged from service"}[status]}
    if status == "rejected":
        body["statusReason"] = {"text": "no capacity in the service area"}
    return body


def encounter(rng: random.Random, eid: str | None, pid: str, sid: str, owner: str) -> dict:
    day = _date(rng, 2024, 2026)
    body = {
        "resourceType": "Encounter",
        "status": rng.choice(("finished", "finished", "in-progress", "planned")),
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH",
                  "display": "home health"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "439708006",
                              "display": "Home visit"}]}],
        "subject": {"reference": f"Patient/{pid}"},
        "basedOn": [{"reference": f"ServiceRequest/{sid}"}],
        "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T10:00:00Z"},
        "serviceProvider": {"reference": f"Organization/{owner}"},
    }
    if eid is not None:
        body = {"resourceType": "Encounter", "id": eid, **{k: v for k, v in body.items()
                                                          if k != "resourceType"}}
    return body


def organization(oid: str, name: str) -> dict:
    return {"resourceType": "Organization", "id": oid, "active": True, "name": name,
            "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                  "organization-type", "code": "prov"}]}]}


@dataclass
class Loaded:
    """What was loaded: counts by type, ids to read, seconds taken."""

    counts: dict[str, int] = field(default_factory=dict)
    task_ids: list[str] = field(default_factory=list)
    groups: list[tuple[str, str, str]] = field(default_factory=list)  # (patient, sr, owner)
    owners: int = 0
    seconds: float = 0.0
    loader: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def generate(size: int, seed: int = 4):
    """Yield (type, resource) for ``size`` resources: groups of Patient, ServiceRequest,
    Task, Encounter (a referral to a home-health agency and one visit)."""
    rng = random.Random(seed * 1_000_003 + size)
    owners = owner_count(size)
    groups = max(1, size // 4)
    for n in range(groups):
        owner = agency(n % owners)
        pid, sid, tid, eid = _id(rng), _id(rng), _id(rng), _id(rng)
        yield "Patient", patient(rng, pid, n)
        yield "ServiceRequest", service_request(rng, sid, pid, owner, n)
        yield "Task", task(rng, tid, pid, sid, owner, n)
        yield "Encounter", encounter(rng, eid, pid, sid, owner)


def check_samples(size: int) -> None:
    """Validate one generated resource of each type with the hub's validator (realism)."""
    from hub.fhirapi.validation import validate_resource

    seen = set()
    for rtype, body in generate(min(size, 8)):
        if rtype not in seen:
            validate_resource(body, expected_type=rtype)
            seen.add(rtype)


def _insert_values(stmt) -> dict:
    """The column values of ``insert(table).values(...)`` (compiling would cost ~1 ms)."""
    values = getattr(stmt, "_values", None)
    if values and all(hasattr(v, "value") for v in values.values()):
        return {(k if isinstance(k, str) else k.key): v.value for k, v in values.items()}
    return dict(stmt.compile().params)


class _NothingFound:
    """The result of a SELECT in the recording session: no rows."""

    def scalar_one_or_none(self):
        return None

    def first(self):
        return None

    def all(self):
        return []

    def __iter__(self):
        return iter(())


class _RecordingSession:
    """Stands in for the Session under ``ResourceRepository.new_created`` of a new resource
    and the Patient's identity claim, and keeps the rows of their INSERTs instead of
    executing them. A SELECT of ``patient_identities`` (the Patient's
    MRN claim) finds nothing: the generated MRNs are all different and new. Anything else
    is refused: the caller falls back."""

    def __init__(self, info: dict | None = None) -> None:
        self.rows: dict = {}  # table -> rows, in first-seen order
        self.info = info or {}

    def execute(self, stmt, params=None):
        from sqlalchemy.sql import Select
        from sqlalchemy.sql.dml import Delete, Insert

        from hub.fhirstore.tables import patient_identities

        if isinstance(stmt, Select) and {t.name for t in stmt.get_final_froms()} == {
                patient_identities.name}:
            return _NothingFound()

        if isinstance(stmt, Insert):
            table = stmt.table
            if params is not None:
                rows = params if isinstance(params, list) else [params]
            else:
                rows = [_insert_values(stmt)]
            self.rows.setdefault(table, []).extend(rows)
            return None
        if isinstance(stmt, Delete):
            return None
        raise NotImplementedError(f"the bulk loader cannot replay {type(stmt).__name__}")


class BulkWriter:
    """Version 1 of many new resources in few statements: ``ResourceRepository.new_created``
    builds the rows (same JSON form, index and link rows) on a recording session, and
    ``flush`` inserts them per table with executemany in the real session.

    ``verify_bulk_writer`` first compares the outcome with plain ``create`` (rolled back).
    """

    def __init__(self, session) -> None:
        from hub.fhirstore.repository import ResourceRepository

        self.session = session
        self.recorder = _RecordingSession(dict(getattr(session, "info", {})))
        self.repo = ResourceRepository(self.recorder)

    def add(self, rtype: str, content: dict, rid: str) -> None:
        from hub.fhirstore import identities
        from hub.fhirstore.tables import resources, search_index

        # the rows ``create`` writes (its INSERTs go to the driver: built, not replayed)
        version = self.repo.new_created(rtype, content, rid)
        self.recorder.rows.setdefault(resources, []).append(version.row)
        self.recorder.rows.setdefault(search_index, []).extend(version.index)
        if rtype == "Patient":
            identities.claim(self.recorder, rid, version.stored.content, new=True)

    def flush(self) -> None:
        from sqlalchemy import insert

        for table, rows in self.recorder.rows.items():
            if rows:
                self.session.execute(insert(table), rows)
        self.recorder.rows = {}


def verify_bulk_writer(db, samples: list[tuple[str, dict]]) -> None:
    """The bulk rows equal what ``ResourceRepository.create`` writes (checked, rolled back)."""
    from sqlalchemy import select

    from hub.fhirstore.repository import ResourceRepository
    from hub.fhirstore.tables import patient_identities as PI
    from hub.fhirstore.tables import resources as R
    from hub.fhirstore.tables import search_index as SI

    def rows(session, rtype, rid):
        res = session.execute(select(R).where(R.c.res_type == rtype, R.c.res_id == rid)).one()
        content = json.loads(res.content)
        content["meta"].pop("lastUpdated")
        index = sorted(tuple(sorted((k, str(v)) for k, v in r._mapping.items() if k != "row_id"))
                       for r in session.execute(select(SI).where(SI.c.res_type == rtype,
                                                                 SI.c.res_id == rid)))
        identity = sorted((r.system, r.value) for r in session.execute(
            select(PI).where(PI.c.patient_id == rid)))
        return (res.version_id, res.deleted, res.current, content), index, identity

    for rtype, body in samples:
        with db.sessions() as session:
            ResourceRepository(session).create(rtype, body, "bench-check-repo")
            want = rows(session, rtype, "bench-check-repo")
            session.rollback()
        with db.sessions() as session:  # apart: the Patient's MRN can be claimed once
            writer = BulkWriter(session)
            writer.add(rtype, body, "bench-check-bulk")
            writer.flush()
            got = rows(session, rtype, "bench-check-bulk")
            session.rollback()
        fix = json.loads(json.dumps(got).replace("bench-check-bulk", "bench-check-repo"))
        if fix != json.loads(json.dumps(want)):
            raise RuntimeError(f"the bulk loader no longer writes what ResourceRepository "
                               f"writes for {rtype}: use --loader repository and fix "
                               f"bench/fhir_api.py BulkWriter")


def load(db, size: int, *, loader: str = "bulk", batch: int = 2000, seed: int = 4) -> Loaded:
    """Store the generated resources, ``batch`` per transaction.

    ``loader="repository"``: ``ResourceRepository.create`` per resource (its own
    statements: about 3 per resource); ``"bulk"``: ``BulkWriter`` (the same rows, verified
    against the repository first, in a few executemany statements per batch).
    """
    from hub.fhirstore.repository import ResourceRepository

    loaded = Loaded(owners=owner_count(size))
    start = time.perf_counter()
    if loader == "bulk":
        samples, seen = [], set()
        for rtype, body in generate(8, seed):
            if rtype not in seen:
                seen.add(rtype)
                samples.append((rtype, body))
        try:
            verify_bulk_writer(db, [*samples, ("Organization", organization("x", "x"))])
        except (NotImplementedError, RuntimeError) as exc:
            print(f"warning: {exc}; loading with ResourceRepository.create instead",
                  file=sys.stderr)
            loader = "repository"
    loaded.loader = loader
    session = db.sessions()
    try:
        repo = ResourceRepository(session)
        writer = BulkWriter(session) if loader == "bulk" else None
        create = writer.add if writer else repo.create
        pending = 0
        for k in range(loaded.owners):
            create("Organization", organization(agency(k), f"Home health agency {k}"),
                   agency(k))
        create("Organization", organization("hub", "Case management hub"), "hub")
        loaded.counts["Organization"] = loaded.owners + 1
        for rtype, body in generate(size, seed):
            create(rtype, body, body["id"])
            loaded.counts[rtype] = loaded.counts.get(rtype, 0) + 1
            if rtype == "Task":
                loaded.task_ids.append(body["id"])
                loaded.groups.append((body["for"]["reference"].split("/")[1],
                                      body["focus"]["reference"].split("/")[1],
                                      body["owner"]["reference"].split("/")[1]))
            pending += 1
            if pending >= batch:
                if writer:
                    writer.flush()
                session.commit()
                pending = 0
        if writer:
            writer.flush()
        session.commit()
    finally:
        session.close()
    if db.engine.dialect.name == "postgresql":
        # what autovacuum does to a table after a bulk load (this machine's PostgreSQL runs
        # without it): statistics, and the visibility map that lets an index-only scan skip
        # the table's pages; VACUUM cannot run inside a transaction
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    loaded.seconds = time.perf_counter() - start
    return loaded


# -- the servers ----------------------------------------------------------------------------

def hub_app(database_url: str, secret_key: str):
    """The hub as ``hub serve`` builds it (without the sync worker), for the child process."""
    from hub import create_app
    from hub.config import Settings

    settings = Settings(database_url=database_url, secret_key=secret_key, sync_worker=False)
    return create_app(settings, migrate=False)


def route(method: str, query: str) -> str:
    if method == "POST":
        return "create"
    if "_include" in query:
        return "search+include"
    return "search" if query else "read"


def baseline_app(answers: dict[str, Captured]):
    return FixedAnswers(answers, route)


# -- the run --------------------------------------------------------------------------------

@dataclass
class Options:
    sizes: list[int]
    requests: int = 400
    concurrency: int = 4
    rounds: int = 2
    warmup: int = 20
    batch_time_limit: float = 120.0
    database_url: str | None = None
    reset: bool = False
    seed: int = 4
    loader: str = "bulk"
    server: str = "granian"
    workers: int = 2

    @property
    def label(self) -> str:
        return server_label(self.server, self.workers)


class TokenSource:
    """A real client's tokens: registered once, then ``POST /auth/token`` per batch."""

    def __init__(self, db, hub_url: str) -> None:
        from hub.store.uow import UnitOfWork

        self.hub_url = hub_url
        with UnitOfWork(db) as uow:
            client, secret = uow.clients.create("bench client",
                                                "system/*.cruds system/Metrics.read")
            uow.commit()
        self._basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()

    def metrics_headers(self) -> dict[str, str]:
        """A token for the hub's ``/metrics`` (``system/Metrics.read``)."""
        return {"Authorization": self.headers("system/Metrics.read")["Authorization"]}

    def headers(self, scope: str = "system/*.cruds") -> dict[str, str]:
        import requests

        resp = requests.post(self.hub_url + "/auth/token",
                             data={"grant_type": "client_credentials",
                                   "scope": scope},
                             headers={"Authorization": f"Basic {self._basic}"}, timeout=30)
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['access_token']}",
                "Accept": FHIR_JSON}


def request_maker(scenario: str, loaded: Loaded, auth: dict, seed: int):
    """``make_request(i)`` of a scenario (the same sequence for hub and baseline)."""
    rng = random.Random(seed)
    ids = list(loaded.task_ids)
    rng.shuffle(ids)
    owner = agency(0)
    search = f"/fhir/Task?owner=Organization/{owner}&status=requested&_count=20"
    bodies: list[bytes] = []
    if scenario == "create":
        for _ in range(64):
            pid, sid, org = rng.choice(loaded.groups)
            bodies.append(dumps(encounter(rng, None, pid, sid, org)))
    post_headers = {**auth, "Content-Type": FHIR_JSON}

    def make(i: int):
        if scenario == "read":
            return "GET", f"/fhir/Task/{ids[i % len(ids)]}", None, auth
        if scenario == "search":
            return "GET", search, None, auth
        if scenario == "search+include":
            return "GET", search + "&_include=Task:focus", None, auth
        return "POST", "/fhir/Encounter", bodies[i % len(bodies)], post_headers

    return make


EXPECT = {"read": 200, "search": 200, "search+include": 200, "create": 201}


def capture_answers(hub_url: str, loaded: Loaded, tokens: TokenSource, seed: int):
    """The hub's answer to one request of each scenario (what the baseline replays)."""
    import requests

    auth = tokens.headers()
    answers: dict[str, Captured] = {}
    with requests.Session() as session:
        for scenario in SCENARIOS:
            method, path, body, headers = request_maker(scenario, loaded, auth, seed)(0)
            resp = session.request(method, hub_url + path, data=body, headers=headers,
                                   timeout=60)
            if resp.status_code != EXPECT[scenario]:
                raise RuntimeError(f"{scenario}: the hub answered {resp.status_code}: "
                                   f"{resp.text[:500]}")
            answers[scenario] = capture(resp)
    return answers


#: The hub's url rule of each scenario (its /metrics label; both searches share one).
SCENARIO_ROUTES = {"read": ("GET", "/fhir/<rtype>/<rid>"), "search": ("GET", "/fhir/<rtype>"),
                   "search+include": ("GET", "/fhir/<rtype>"), "create": ("POST", "/fhir/<rtype>")}


def measure_size(size: int, opts: Options, workdir: Path, out) -> dict[str, dict]:
    from hub.store.db import Database
    from hub.store.migrate import upgrade

    if opts.database_url:
        url = opts.database_url
        prepare_external(url, opts.reset)
    else:
        url = f"sqlite:///{workdir / f'hub-{size}.db'}"
    upgrade(url)
    db = Database(url)
    try:
        print(f"\n== {size} resources ({db.engine.dialect.name}) ==", file=out)
        loaded = load(db, size, loader=opts.loader, seed=opts.seed)
        rate = loaded.total / loaded.seconds if loaded.seconds else 0
        print(f"loaded {loaded.total} resources "
              f"({', '.join(f'{n} {t}' for t, n in loaded.counts.items())}) in "
              f"{loaded.seconds:.1f}s ({rate:.0f}/s, {loaded.loader} loader); {loaded.owners} owner "
              f"Organization(s), ~{TASKS_PER_OWNER} Tasks each", file=out, flush=True)
        secret_key = secrets.token_urlsafe(32)
        kind, config = server_config(opts.server, opts.workers)
        with ServerProcess(hub_app, (url, secret_key), kind=kind, config=config) as hub:
            tokens = TokenSource(db, hub.base_url)
            answers = capture_answers(hub.base_url, loaded, tokens, opts.seed)
            with ServerProcess(baseline_app, (answers,), kind=kind, config=config) as base:
                results = run_scenarios(hub.base_url, base.base_url, loaded, tokens, opts,
                                        pids={"hub": hub.pid, "baseline": base.pid})
            server = scrape_latency(hub.base_url, tokens.metrics_headers())
            memory_line("fhir_api", f"{opts.label}size={size} hub server process", hub.pid, out)
            sizes = {s: len(answers[s].body) for s in SCENARIOS}
    finally:
        db.dispose()
    report_size(size, results, sizes, opts, out)
    report_server_side(server, results, SCENARIO_ROUTES, out)
    return results


def run_scenarios(hub_url: str, base_url: str, loaded: Loaded, tokens: TokenSource,
                  opts: Options, pids: dict[str, int | None] | None = None,
                  ) -> dict[str, dict[str, LoadResult]]:
    """Each scenario: warm-up, then ``rounds`` x (hub batch, baseline batch), interleaved."""
    results: dict[str, dict[str, LoadResult]] = {}
    per_round = max(1, opts.requests // opts.rounds)
    for scenario in SCENARIOS:
        results[scenario] = {"hub": LoadResult(), "baseline": LoadResult()}
        for _target, url in (("hub", hub_url), ("baseline", base_url)):
            make = request_maker(scenario, loaded, tokens.headers(), opts.seed + 1)
            run_load(url, make, opts.warmup, concurrency=opts.concurrency,
                     expect=EXPECT[scenario], time_limit=opts.batch_time_limit)
        for r in range(opts.rounds):
            order = (("hub", hub_url), ("baseline", base_url))
            for target, url in order if r % 2 == 0 else order[::-1]:
                make = request_maker(scenario, loaded, tokens.headers(), opts.seed + 2 + r)
                batch = run_load(url, make, per_round, concurrency=opts.concurrency,
                                 expect=EXPECT[scenario], time_limit=opts.batch_time_limit,
                                 server_pid=(pids or {}).get(target),
                                 database_cpu=database_cpu_probe(opts.database_url))
                results[scenario][target] = results[scenario][target].merge(batch)
    return results


def report_size(size: int, results, body_sizes: dict[str, int], opts: Options, out) -> None:
    rows = []
    for scenario in SCENARIOS:
        hub, base = results[scenario]["hub"], results[scenario]["baseline"]
        row = [scenario, f"{body_sizes[scenario]}", f"{hub.done}",
               f"{hub.throughput:.0f}", f"{base.throughput:.0f}",
               f"{ratio(hub.throughput, base.throughput):.3f}"]
        lat = {}
        for pct in (50, 95, 99):
            h, b = percentile(hub.latencies, pct), percentile(base.latencies, pct)
            lat[f"p{pct}"] = ratio(h, b)
            row.append(f"{ms(h)}/{ms(b)} x{ratio(h, b):.1f}")
        rows.append(row)
        problems = [f"{t}: {r.unexpected} {r.errors[:2]}" for t, r in
                    (("hub", hub), ("baseline", base)) if r.unexpected or r.errors]
        if hub.timed_out or base.timed_out:
            problems.append("a batch hit --batch-time-limit (fewer requests than asked)")
        for p in problems:
            print(f"  warning ({scenario}): {p}", file=out)
    print(f"concurrency {opts.concurrency} client threads, {opts.rounds} interleaved "
          f"rounds; latency columns: hub/baseline ms and hub/baseline ratio", file=out)
    print_table(["scenario", "body B", "n", "hub req/s", "base req/s", "thr ratio",
                 "p50 ms", "p95 ms", "p99 ms"], rows, out)
    for scenario in SCENARIOS:
        hub, base = results[scenario]["hub"], results[scenario]["baseline"]
        ratio_line("fhir_api", f"{opts.label}size={size} {scenario} hub/baseline", {
            "throughput": ratio(hub.throughput, base.throughput),
            **{f"p{p}": ratio(percentile(hub.latencies, p), percentile(base.latencies, p))
               for p in (50, 95, 99)}}, out)
        cpu_line("fhir_api", f"{opts.label}size={size} {scenario}", hub, base, out)


def report_scaling(all_results: dict[int, dict], opts: Options, out) -> None:
    if len(all_results) < 2:
        return
    small, large = min(all_results), max(all_results)
    print(f"\n== search latency, largest/smallest size ({large}/{small}) ==", file=out)
    rows = []
    for scenario in ("search", "search+include", "read"):
        for target in ("hub", "baseline"):
            a = all_results[large][scenario][target].latencies
            b = all_results[small][scenario][target].latencies
            vals = {f"p{p}": ratio(percentile(a, p), percentile(b, p)) for p in (50, 95, 99)}
            rows.append([f"{scenario} ({target})",
                         *(f"{ms(percentile(a, p))}/{ms(percentile(b, p))} x{vals[f'p{p}']:.2f}"
                           for p in (50, 95, 99))])
            if target == "hub":
                ratio_line("fhir_api", f"{opts.label}{scenario} latency {large}/{small}", vals,
                           out)
    print_table(["scenario", "p50 ms", "p95 ms", "p99 ms"], rows, out)


def prepare_external(url: str, reset: bool) -> None:
    """An external database must be emptied for each size: only with ``--reset``."""
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
        if tables and not reset:
            raise SystemExit(f"{url} already has tables ({', '.join(tables[:5])}...); the "
                             "benchmark empties the database at each size: pass --reset "
                             "if it may drop schema public there")
        if tables and engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        elif tables:
            raise SystemExit("--reset is implemented for PostgreSQL only")
    finally:
        engine.dispose()


def parse_args(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.fhir_api", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000",
                   help="resource counts, comma separated (full run: 1000,100000)")
    p.add_argument("--requests", type=int, default=400,
                   help="measured requests per scenario and target (split over rounds)")
    p.add_argument("--concurrency", type=int, default=4, help="client threads")
    p.add_argument("--rounds", type=int, default=2, help="interleaved hub/baseline rounds")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured requests per target")
    p.add_argument("--batch-time-limit", type=float, default=120.0,
                   help="seconds a batch may take (tokens live 300 s)")
    p.add_argument("--database-url", help="a PostgreSQL database instead of a fresh SQLite "
                   "file (emptied at each size: needs --reset if it has tables)")
    p.add_argument("--reset", action="store_true",
                   help="allow dropping schema public of --database-url")
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--loader", choices=("bulk", "repository"), default="bulk",
                   help="bulk: the repository's rows with executemany (checked against "
                   "ResourceRepository.create first); repository: create() per resource")
    add_server_options(p)
    a = p.parse_args(argv)
    sizes = sorted({int(s) for s in a.sizes.split(",") if s.strip()})
    if not sizes or min(sizes) < 4:
        p.error("--sizes: at least one size of 4 or more")
    return Options(sizes=sizes, requests=max(1, a.requests), concurrency=max(1, a.concurrency),
                   rounds=max(1, a.rounds), warmup=max(0, a.warmup),
                   batch_time_limit=a.batch_time_limit, database_url=a.database_url,
                   reset=a.reset, seed=a.seed, loader=a.loader, server=a.server,
                   workers=max(1, a.workers))


def main(argv: list[str] | None = None, out=None) -> int:
    opts = parse_args(argv)
    out = out or sys.stdout
    print("bench/fhir_api.py: the FHIR API over HTTP vs a fixed-answer WSGI baseline on the "
          f"same server: {server_title(opts.server, opts.workers)}", file=out)
    print(machine_line(), file=out)
    check_samples(opts.sizes[0])
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    all_results = {}
    try:
        for size in opts.sizes:
            all_results[size] = measure_size(size, opts, workdir, out)
            out.flush()
        report_scaling(all_results, opts, out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(machine_line(), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
