"""The benchmarks run to the end with tiny sizes and print their ratio lines.

No timing is asserted here (performance is measured by the benchmarks themselves, see
bench/README.md): only that each main function completes and reports its ratios. Each
benchmark starts its servers as child processes on 127.0.0.1 and uses its own temporary
SQLite database, so these tests do not touch the test database.
"""

from __future__ import annotations

import importlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RATIO = re.compile(r"^RATIO \S+ .+ \w+=(?:\d+\.\d+|nan)", re.M)

pytestmark = pytest.mark.integration


@pytest.fixture
def bench(monkeypatch):
    """``bench(name)`` imports bench/<name>.py as ``bench.<name>``."""
    monkeypatch.syspath_prepend(str(ROOT))

    def load(name: str):
        return importlib.import_module(f"bench.{name}")

    return load


def test_fhir_api_bench_completes_and_prints_ratios(bench):
    out = io.StringIO()
    rc = bench("fhir_api").main(["--sizes", "40,80", "--requests", "6", "--warmup", "1",
                                 "--concurrency", "2", "--rounds", "2",
                                 "--batch-time-limit", "60"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    for size in (40, 80):
        for scenario in ("read", "search", "search+include", "create"):
            assert f"RATIO fhir_api size={size} {scenario} hub/baseline throughput=" in text, \
                text
    assert "RATIO fhir_api search latency 80/40" in text, text
    assert "RATIO fhir_api search+include latency 80/40" in text, text
    assert "warning" not in text, text  # every request got the expected answer
    assert len(RATIO.findall(text)) >= 10, text
    # the hub's own /metrics latency, scraped at the end of each size, beside the client's
    assert text.count("hub /metrics (server side") == 2, text
    assert re.search(r"^read +GET /fhir/<rtype>/<rid> +[1-9]\d* ", text, re.M), text
    # the hub server's memory at the end of each size
    for size in (40, 80):
        # granian's main process and its one worker (hub serve's server)
        assert re.search(rf"^RSS fhir_api size={size} hub server process rss_mb=\d+\.\d "
                         r"peak_mb=\d+\.\d processes=2$", text, re.M), text
        # the servers' CPU per request, hub and baseline
        for scenario in ("read", "search", "search+include", "create"):
            assert re.search(rf"^CPU fhir_api size={size} {re.escape(scenario)} "
                             r"server_ms_per_request hub=\d+\.\d+ baseline=\d+\.\d+$",
                             text, re.M), text


def test_profile_api_runs_each_scenario(bench):
    out = io.StringIO()
    rc = bench("profile_api").main(["--size", "40", "--requests", "3"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    for scenario in ("read", "search", "search+include", "create"):
        assert f"== {scenario}: 3 requests" in text, text
        assert f"CPU {scenario} size=40 cpu_ms=" in text, text
    # one write transaction per create (its resource, Provenance and AuditEvent), timed
    assert re.search(r"^LOCKHOLD create size=40 transactions=3 wall_ms_median=[\d.]+ "
                     r"cpu_ms_median=[\d.]+$", text, re.M), text


def test_outbox_bench_completes_and_prints_ratios(bench):
    out = io.StringIO()
    rc = bench("outbox").main(["--deliveries", "20", "--cases", "4", "--concurrency", "1,2",
                               "--rounds", "1", "--time-limit", "60"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    assert "RATIO outbox concurrency=1 deliveries/s outbox/plain-loop ratio=" in text, text
    assert "RATIO outbox concurrency=2 deliveries/s outbox/plain-loop ratio=" in text, text
    assert "warning" not in text, text  # all 20 delivered, every replayed request ok


def test_scale_bench_completes_and_prints_ratios(bench):
    import os

    broker = os.environ.get("HUB_TEST_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    out = io.StringIO()
    rc = bench("scale").main(["--gunicorn", "1,2", "--workers", "1,2", "--requests", "6",
                              "--concurrency", "2", "--deliveries", "8", "--cases", "2",
                              "--celery", broker, "--time-limit", "120"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    for what in ("http create gunicorn=2/1", "http read gunicorn=2/1",
                 "deliveries hub-worker=2/1", "deliveries celery=2/1"):
        assert f"RATIO scale {what} throughput=" in text, text
    assert "warning" not in text, text  # every request answered, every row delivered


def test_case_api_bench_completes_and_prints_ratios(bench):
    out = io.StringIO()
    rc = bench("case_api").main(["--cases", "3", "--requests", "4", "--warmup", "1",
                                 "--concurrency", "2", "--rounds", "2",
                                 "--batch-time-limit", "60"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    for scenario in ("read", "create"):
        assert f"RATIO case_api cases=3 {scenario} hub/baseline throughput=" in text, text
    assert "warning" not in text, text  # every request got the expected answer
    assert re.search(r"^RSS case_api cases=3 hub server process rss_mb=\d", text, re.M), text
    assert re.search(r"^CPU case_api cases=3 read server_ms_per_request hub=\d+\.\d+ "
                     r"baseline=\d+\.\d+$", text, re.M), text


def test_http_benches_serve_hub_and_baseline_alike_under_waitress(bench):
    """``--server waitress`` (``hub serve --server waitress``): one process each."""
    out = io.StringIO()
    rc = bench("case_api").main(["--cases", "2", "--requests", "4", "--warmup", "1",
                                 "--concurrency", "2", "--rounds", "1", "--server", "waitress",
                                 "--batch-time-limit", "60"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    assert "waitress, one process, 8 threads" in text, text
    for scenario in ("read", "create"):
        assert f"RATIO case_api waitress cases=2 {scenario} hub/baseline throughput=" in text, \
            text
    assert "warning" not in text, text
    assert re.search(r"^RSS case_api waitress cases=2 hub server process rss_mb=\d+\.\d "
                     r"peak_mb=\d+\.\d processes=1$", text, re.M), text


def test_http_benches_serve_hub_and_baseline_alike_under_gunicorn(bench):
    """``--server gunicorn``: the hub and its baseline each under gunicorn's arbiter with two
    worker processes; the ratios are labelled with it, and the memory is that of the whole
    process tree (the arbiter and its two workers)."""
    out = io.StringIO()
    rc = bench("case_api").main(["--cases", "2", "--requests", "4", "--warmup", "1",
                                 "--concurrency", "2", "--rounds", "1", "--server", "gunicorn",
                                 "--workers", "2", "--batch-time-limit", "60"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    assert "gunicorn, 2 worker processes x 4 threads" in text, text
    for scenario in ("read", "create"):
        assert f"RATIO case_api gunicorn=2 cases=2 {scenario} hub/baseline throughput=" in text, \
            text
    assert "warning" not in text, text
    assert re.search(r"^RSS case_api gunicorn=2 cases=2 hub server process rss_mb=\d+\.\d "
                     r"peak_mb=\d+\.\d processes=3$", text, re.M), text
