"""Shared pieces of the benchmarks: servers in a child process, a bounded HTTP load client,
percentiles, tables and the ``RATIO`` lines.

Servers run in a child process (``ServerProcess``) so that the server under test and the
load client do not share one interpreter lock: on a 2-core machine a server in the
client's process would be slowed by the client's own Python work, and the trivial baseline
server far more (relatively) than the hub. Both the hub and its baseline are served the
same way: by default as ``hub serve`` serves (granian, ``hub.serving``, 8 threads).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: The waitress settings of ``hub serve --server waitress`` (hub/cli.py).
WAITRESS_CONFIG = {"threads": 8, "ident": "fhir-case-hub"}
#: The granian settings of ``hub serve`` (its default server; hub/cli.py, hub/serving.py).
GRANIAN_CONFIG = {"threads": 8}
SERVERS = ("granian", "waitress", "gunicorn")
HOST = "127.0.0.1"


# -- servers in a child process ----------------------------------------------------------

def _serve_child(conn, factory: Callable, args: tuple, kind: str, config: dict) -> None:
    """Child process: build the app, serve it on 127.0.0.1:0, obey the parent's pipe."""
    if kind == "gunicorn":
        _serve_gunicorn(conn, factory, args, config)
        return
    if kind == "granian":
        _serve_granian(conn, factory, args, config)
        return
    app = factory(*args)
    if kind == "waitress":
        from waitress import wasyncore
        from waitress.server import create_server

        socket_map: dict = {}
        server = create_server(app, map=socket_map, host=HOST, port=0, **config)
        port = server.effective_port

        def stop() -> None:
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            wasyncore.close_all(socket_map)

        run = server.run
    else:  # werkzeug, threaded (a partner simulator)
        from werkzeug.serving import make_server

        server = make_server(HOST, 0, app, threaded=True)
        port = server.server_port

        def stop() -> None:
            server.shutdown()
            server.server_close()

        def run() -> None:
            server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=run, name="bench-server", daemon=True)
    thread.start()
    conn.send(("ready", port))
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the parent went away
                break
            if message == "stop":
                break
            command = getattr(app, "bench_command", None)
            conn.send(command(message) if command else None)
    finally:
        stop()
        thread.join(5)
        try:
            conn.send("stopped")
        except (BrokenPipeError, OSError):
            pass


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _built(factory: Callable, args: tuple):
    """(app, stop) for ``hub.serving``: ``factory(*args)``, nothing to stop."""
    return factory(*args), None


def _obey_then_terminate(conn, port: int) -> None:
    """A thread of a child whose main thread runs a server that forks its workers: ready
    once the port answers, then the parent's pipe; "stop" is a SIGTERM to this process
    (the server's graceful stop)."""
    import signal
    import socket

    for _ in range(1200):  # the socket is up before the workers answer
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    conn.send(("ready", port))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message == "stop":
            break
        conn.send(None)  # the app lives in the workers: no bench_command here
    os.kill(os.getpid(), signal.SIGTERM)


def _serve_granian(conn, factory: Callable, args: tuple, config: dict) -> None:
    """Child process: ``hub serve``'s granian (``hub.serving.serve_granian``) in this
    process's main thread, its worker process building ``factory(*args)``."""
    import functools

    from hub.config import Settings
    from hub.serving import serve_granian

    port = _free_port()
    threading.Thread(target=_obey_then_terminate, args=(conn, port), name="bench-pipe",
                     daemon=True).start()
    try:
        serve_granian(functools.partial(_built, factory, args), host=HOST, port=port,
                      threads=config["threads"], max_body_bytes=Settings().max_body_bytes,
                      log_level="warning")
    finally:
        try:
            conn.send("stopped")
        except (BrokenPipeError, OSError):
            pass


def _serve_gunicorn(conn, factory: Callable, args: tuple, config: dict) -> None:
    """Child process: gunicorn's arbiter in this process's main thread (it handles the
    signals), ``config["workers"]`` worker processes each building ``factory(*args)``
    (nothing shared across the fork: each opens its own database connections), gthread
    workers with ``config["threads"]`` threads each (keep-alive, as waitress). A thread
    obeys the parent's pipe; "stop" is a SIGTERM to the arbiter (graceful)."""

    from gunicorn.app.base import BaseApplication

    port = _free_port()
    settings = {"bind": f"{HOST}:{port}", "workers": config["workers"],
                "worker_class": "gthread", "threads": config["threads"],
                "keepalive": 5, "graceful_timeout": 5, "accesslog": None, "errorlog": "-",
                "loglevel": "warning", "preload_app": False}

    class Served(BaseApplication):
        def load_config(self) -> None:
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self):
            return factory(*args)

    threading.Thread(target=_obey_then_terminate, args=(conn, port), name="bench-pipe",
                     daemon=True).start()
    try:
        Served().run()
    finally:
        try:
            conn.send("stopped")
        except (BrokenPipeError, OSError):
            pass


def server_config(server: str, workers: int) -> tuple[str, dict]:
    """(kind, config) of ``ServerProcess`` for the benchmarks' ``--server`` option:
    "granian" (``hub serve``: one worker process, ``GRANIAN_CONFIG``), "waitress" (``hub
    serve --server waitress``: one process, ``WAITRESS_CONFIG``) or "gunicorn" (``workers``
    processes of gthread workers with as many threads in all as waitress has: the
    deployment of docker-compose.yml on one machine). The hub and its baseline are always
    served alike."""
    if server == "granian":
        return "granian", dict(GRANIAN_CONFIG)
    if server == "waitress":
        return "waitress", dict(WAITRESS_CONFIG)
    threads = max(1, WAITRESS_CONFIG["threads"] // workers)
    return "gunicorn", {"workers": workers, "threads": threads}


def add_server_options(parser) -> None:
    """``--server`` and ``--workers`` of the HTTP benchmarks (``server_config``)."""
    parser.add_argument("--server", choices=SERVERS, default="granian",
                        help="granian: as `hub serve`; waitress: as `hub serve --server "
                        "waitress`; gunicorn: --workers processes as docker-compose.yml (the "
                        "baseline is served alike)")
    parser.add_argument("--workers", type=int, default=2,
                        help="gunicorn worker processes (with --server gunicorn)")


def server_label(server: str, workers: int) -> str:
    """What the ``RATIO`` lines and titles say of the server ("" for ``hub serve``'s)."""
    if server == "granian":
        return ""
    return "waitress " if server == "waitress" else f"gunicorn={workers} "


def server_title(server: str, workers: int) -> str:
    if server == "granian":
        return "granian, one worker process, 8 threads (hub serve)"
    if server == "waitress":
        return "waitress, one process, 8 threads (hub serve --server waitress)"
    config = server_config(server, workers)[1]
    return f"gunicorn, {workers} worker processes x {config['threads']} threads (gthread)"


class ServerProcess:
    """``factory(*args)`` (a picklable top-level function returning a WSGI app) served by
    ``kind`` ("waitress" with ``WAITRESS_CONFIG``, or "werkzeug") in a child process.

    ``command(message)`` forwards to the app's ``bench_command`` (e.g. fetching recorded
    requests). ``stop()`` ends the child: politely, then by terminating that one process.
    """

    def __init__(self, factory: Callable, args: tuple = (), *, kind: str = "waitress",
                 config: dict | None = None, start_timeout: float = 60.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        # granian starts its worker with multiprocessing, which a daemonic process may not
        self._process = ctx.Process(target=_serve_child, name=f"bench-{kind}",
                                    daemon=kind != "granian",
                                    args=(child_conn, factory, args, kind,
                                          dict(WAITRESS_CONFIG if config is None else config)))
        self._metrics_dir = None
        if kind == "gunicorn":  # the workers' metrics merged (prometheus_client multiprocess)
            import tempfile

            self._metrics_dir = tempfile.TemporaryDirectory(prefix="bench-metrics-")
            saved = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir.name
            try:
                self._process.start()  # spawn: the child takes the environment of now
            finally:
                if saved is None:
                    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
                else:
                    os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved
        else:
            self._process.start()
        child_conn.close()
        if not self._conn.poll(start_timeout):
            self.stop()
            raise RuntimeError(f"the {kind} server did not start within {start_timeout}s")
        status, self.port = self._conn.recv()
        assert status == "ready"
        self.base_url = f"http://{HOST}:{self.port}"
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def command(self, message, timeout: float = 60.0):
        with self._lock:
            self._conn.send(message)
            if not self._conn.poll(timeout):
                raise RuntimeError(f"the server did not answer {message!r} in {timeout}s")
            return self._conn.recv()

    def stop(self, timeout: float = 15.0) -> None:
        if self._process.is_alive():
            try:
                self._conn.send("stop")
                if self._conn.poll(timeout):
                    self._conn.recv()
            except (BrokenPipeError, EOFError, OSError):
                pass
            self._process.join(timeout)
        if self._process.is_alive():
            self._process.terminate()  # this child only, by its handle
            self._process.join(5)
        self._conn.close()
        self._process.close()
        if self._metrics_dir is not None:
            self._metrics_dir.cleanup()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# -- the baseline: fixed answers ------------------------------------------------------------

@dataclass
class Captured:
    """One HTTP answer as bytes: what the baseline server replays."""

    status: str  # "200 OK"
    headers: list[tuple[str, str]]
    body: bytes


#: Headers that the server itself adds (waitress: Date, Server) or that depend on framing.
HOP_HEADERS = {"date", "server", "connection", "transfer-encoding", "keep-alive"}


def capture(response) -> Captured:
    """A ``requests`` response as a ``Captured`` answer (same status, headers, body)."""
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in HOP_HEADERS]
    return Captured(f"{response.status_code} {response.reason}", headers, response.content)


class FixedAnswers:
    """A trivial WSGI app: reads the request body, answers the ``Captured`` chosen by
    ``route(method, query_string)`` from a small dict. Nothing else."""

    def __init__(self, answers: dict[str, Captured], route: Callable[[str, str], str]) -> None:
        self.answers = answers
        self.route = route

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        answer = self.answers[self.route(environ["REQUEST_METHOD"],
                                         environ.get("QUERY_STRING", ""))]
        start_response(answer.status, list(answer.headers))
        return [answer.body]


# -- load ---------------------------------------------------------------------------------

@dataclass
class LoadResult:
    """Latencies (seconds) of the completed requests of one batch, and its wall time."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    unexpected: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False
    #: CPU seconds the server's processes spent during the batch (``run_load``'s
    #: server_pid; None: not measured)
    server_cpu: float | None = None
    #: CPU seconds the database server's processes spent during the batch (``run_load``'s
    #: database_cpu: a PostgreSQL on this machine; None: not measured)
    database_cpu: float | None = None

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def server_cpu_ms(self) -> float:
        """The server's CPU per completed request, ms (NaN when not measured)."""
        if self.server_cpu is None or not self.done:
            return float("nan")
        return 1000 * self.server_cpu / self.done

    @property
    def database_cpu_ms(self) -> float:
        """The database server's CPU per completed request, ms (NaN when not measured)."""
        if self.database_cpu is None or not self.done:
            return float("nan")
        return 1000 * self.database_cpu / self.done

    @property
    def throughput(self) -> float:
        return self.done / self.wall if self.wall > 0 else 0.0

    def merge(self, other: LoadResult) -> LoadResult:
        out = LoadResult(self.latencies + other.latencies, self.wall + other.wall,
                         dict(self.unexpected), self.errors + other.errors,
                         self.timed_out or other.timed_out,
                         _sum(self.server_cpu, other.server_cpu),
                         _sum(self.database_cpu, other.database_cpu))
        for status, n in other.unexpected.items():
            out.unexpected[status] = out.unexpected.get(status, 0) + n
        return out


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


Request = tuple[str, str, bytes | None, dict]  # method, path (+query), body, headers


def run_load(base_url: str, make_request: Callable[[int], Request], total: int, *,
             concurrency: int, expect: int, time_limit: float,
             session_factory: Callable | None = None,
             server_pid: int | None = None,
             database_cpu: Callable[[], float] | None = None) -> LoadResult:
    """``total`` requests ``make_request(i)`` from ``concurrency`` threads, each with its own
    ``requests.Session``; stops early (``timed_out``) after ``time_limit`` seconds.

    Latency is measured around ``session.request`` (the body is read by then). An answer
    other than ``expect`` counts in ``unexpected`` (and its latency is not kept). With
    ``server_pid``, the CPU time of that process and its children over the batch is kept
    (``server_cpu``): what the server spends per request, which the load of other
    processes on the machine changes far less than throughput. With ``database_cpu`` (see
    ``database_cpu_probe``), the database server's CPU time over the batch too
    (``database_cpu``).
    """
    import requests

    counter = iter(range(total))
    lock = threading.Lock()
    deadline = time.perf_counter() + time_limit
    result = LoadResult()
    per_thread: list[list[float]] = []

    def work() -> None:
        latencies: list[float] = []
        per_thread.append(latencies)
        session = session_factory() if session_factory else requests.Session()
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                if time.perf_counter() > deadline:
                    result.timed_out = True
                    return
                method, path, body, headers = make_request(i)
                start = time.perf_counter()
                try:
                    resp = session.request(method, base_url + path, data=body,
                                           headers=headers, timeout=(5, 60))
                except Exception as exc:
                    with lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                elapsed = time.perf_counter() - start
                if resp.status_code == expect:
                    latencies.append(elapsed)
                else:
                    with lock:
                        result.unexpected[resp.status_code] = \
                            result.unexpected.get(resp.status_code, 0) + 1
                        if len(result.errors) < 5:
                            result.errors.append(f"{resp.status_code}: {resp.text[:200]}")
        finally:
            session.close()

    threads = [threading.Thread(target=work, name=f"bench-client-{n}", daemon=True)
               for n in range(max(1, concurrency))]
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    db_before = database_cpu() if database_cpu else 0.0
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(time_limit + 120)  # a request has a 65 s timeout at most
    result.wall = time.perf_counter() - started
    if server_pid:
        result.server_cpu = cpu_seconds(server_pid) - cpu_before
    if database_cpu:
        result.database_cpu = database_cpu() - db_before
    for latencies in per_thread:
        result.latencies.extend(latencies)
    return result


# -- statistics and output -----------------------------------------------------------------

def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN when there is nothing to rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def ratio(a: float, b: float) -> float:
    return a / b if b and b == b and a == a else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def machine_line() -> str:
    """CPU count, load average and Python: printed with every run."""
    try:
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "n/a"
    return (f"machine: {os.cpu_count()} cores, load average {load}, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")



def between_machine_lines(title: str, out, work: Callable[[], object]) -> int:
    """A benchmark's run: its title and the machine line, ``work()``, the machine line again
    (load is compared at both ends); the exit status 0."""
    print(title, file=out)
    print(machine_line(), file=out)
    work()
    print(machine_line(), file=out)
    return 0

def rss_mb(pid: int | None) -> tuple[float, float]:
    """(resident set size now, its peak) of process ``pid`` in MB (Linux /proc; NaN
    elsewhere or if the process is gone)."""
    found = {"VmRSS": float("nan"), "VmHWM": float("nan")}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in found:
                    found[key] = int(value.split()[0]) / 1024  # kB
    except (OSError, ValueError):
        pass
    return found["VmRSS"], found["VmHWM"]


def process_tree(pid: int | None) -> list[int]:
    """``pid`` and its children (gunicorn's and granian's workers; Linux /proc)."""
    found = [pid] if pid else []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # fields after the name: state, ppid, ...
            found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children so far (Linux /proc)."""
    ticks = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """User + system CPU seconds so far of every PostgreSQL process on this machine (its
    backends, WAL writer, checkpointer...: the processes named ``postgres``; Linux /proc)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                name, _, rest = stat.read().partition(" (")[2].rpartition(") ")
        except OSError:
            continue
        if name == "postgres":
            fields = rest.split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def database_cpu_probe(database_url: str | None) -> Callable[[], float] | None:
    """What ``run_load`` reads the database server's CPU with: PostgreSQL on this machine
    (a loopback host or a local socket) is read from /proc; SQLite runs inside the hub's
    own process (its CPU is the server's), and a remote server's CPU cannot be read: None."""
    if not database_url:
        return None
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    if url.host not in (None, "", "localhost", "127.0.0.1", "::1"):
        return None
    return postgres_cpu_seconds


def cpu_line(bench: str, what: str, hub: LoadResult, base: LoadResult, out=None) -> None:
    """The servers' CPU per request (ms), one machine-readable ``CPU`` line; with the
    database server's CPU per request after it when that was measured."""
    line = (f"CPU {bench} {what} server_ms_per_request hub={hub.server_cpu_ms:.3f} "
            f"baseline={base.server_cpu_ms:.3f}")
    if hub.database_cpu is not None:
        line += (f" database_ms_per_request hub={hub.database_cpu_ms:.3f} "
                 f"baseline={base.database_cpu_ms:.3f}")
    print(line, file=out)


def memory_line(bench: str, what: str, pid: int | None, out=None) -> None:
    """The server's memory (summed over its processes: gunicorn's or granian's main process
    and workers),
    printed as one machine-readable ``RSS`` line."""
    pids = process_tree(pid)
    now = sum(rss_mb(p)[0] for p in pids)
    peak = sum(rss_mb(p)[1] for p in pids)
    print(f"RSS {bench} {what} rss_mb={now:.1f} peak_mb={peak:.1f} processes={len(pids)}",
          file=out)


def print_table(headers: list[str], rows: list[list[str]], out=None) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in
                     enumerate(zip(headers, widths)))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths))), file=out)


def ratio_line(bench: str, what: str, values: dict[str, float], out=None) -> None:
    """One machine-readable ``RATIO`` line (the smoke test greps for them)."""
    parts = " ".join(f"{k}={v:.3f}" for k, v in values.items())
    print(f"RATIO {bench} {what} {parts}", file=out)


def dumps(body) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def scrape_latency(hub_url: str, headers: dict[str, str]) -> dict[tuple[str, str], dict]:
    """The hub's own request latency from its ``/metrics`` (``hub_http_request_duration_
    seconds``), per (method, url rule), all statuses together: count, mean and the p50/p99
    read off the histogram buckets (upper bounds)."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    resp = requests.get(hub_url + "/metrics", headers=headers, timeout=30)
    resp.raise_for_status()
    found: dict[tuple[str, str], dict] = {}
    for family in text_string_to_metric_families(resp.text):
        if family.name != "hub_http_request_duration_seconds":
            continue
        for s in family.samples:
            key = (s.labels["method"], s.labels["route"])
            row = found.setdefault(key, {"count": 0.0, "sum": 0.0, "buckets": {}})
            if s.name.endswith("_count"):
                row["count"] += s.value
            elif s.name.endswith("_sum"):
                row["sum"] += s.value
            elif s.name.endswith("_bucket"):
                le = float(s.labels["le"])
                row["buckets"][le] = row["buckets"].get(le, 0.0) + s.value
    for row in found.values():
        row["mean"] = row["sum"] / row["count"] if row["count"] else float("nan")
        for pct in (50, 99):
            want = row["count"] * pct / 100
            row[f"p{pct}"] = next((le for le, n in sorted(row["buckets"].items())
                                   if n >= want), float("nan"))
    return found


def report_server_side(server: dict, results, routes: dict, out) -> None:
    """The hub's own latency (its /metrics histograms, every request of the run, warm-up
    and answer capture included; scenarios of one url rule share a row) beside the
    client-side p50 of the scenario. ``routes``: scenario -> (method, url rule)."""
    print("hub /metrics (server side, all requests of the run) vs client side, ms:", file=out)
    rows = []
    for scenario, key in routes.items():
        row = server.get(key)
        client = results[scenario]["hub"].latencies
        if row is None:
            rows.append([scenario, f"{key[0]} {key[1]}", "0", "-", "-", "-", "-"])
            continue
        rows.append([scenario, f"{key[0]} {key[1]}", f"{row['count']:.0f}",
                     f"{row['mean'] * 1000:.1f}", f"<={row['p50'] * 1000:g}",
                     f"<={row['p99'] * 1000:g}", f"{ms(percentile(client, 50))}"])
    print_table(["scenario", "route", "n (server)", "server mean", "server p50",
                 "server p99", "client p50"], rows, out)
