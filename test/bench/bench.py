#!/usr/bin/env python3
"""The routerkeys benchmark driver, run by test/bench/run.sh inside the test bed of test/run.sh.

Runs each workload for each client, in alternation (the client order rotates from round to
round), for RK_BENCH_ROUNDS rounds (default 3), then prints one table of medians, ratios to
the raw C client and the targets' pass/miss.  Writes test/bench/out/results.csv (one line a
row of the table, every sample included), report.txt (what is printed) and plans.txt (the
plans of the measured statements).

Clients: routerkeys (functions, view, foreign table), raw C (rawc.c: libcurl + json-c, the
practical limit), PL/Python with requests.Session (schema bench_py of setup.sql) and the
vendor's SDK @orq-ai/node (sdk.mjs).  SQL clients are timed on the server, inside one
statement (bench.time_it: clock_timestamp() around the work, after an untimed warm-up call
in the same session, so the HTTP connection is open); rawc and sdk.mjs time themselves the
same way; W5's cold calls are timed end to end, process start included.  Every measurement
also records the CPU time of the process doing the work (the backend for SQL clients), shown
as "cpu%" of the elapsed time: near 100% means that process is the bottleneck, lower means
it waits (for the stub, or for a CPU other work holds).

W1, W2 and W4 also run against nginx serving the stub's answers as static files (a reference
server that is not the bottleneck: rows "... against nginx", routerkeys through the server
bench_static), and every figure of theirs says what bounds it: the server's time for the
requests of one call (wrk -c1; for nginx also its CPU time meanwhile) against the client
process's CPU time for one call.

Needs the environment of test/run.sh: PGHOST, PGPORT, PGUSER, PGDATABASE, RK_STUB_URL.
Optional: RK_BENCH_ROUNDS (3; 0 runs no workload), RK_BENCH_BUDGET_S (600: no workload starts
that would likely end past it, judging by its previous run), RK_BENCH_PERF=1 (then profile the routerkeys backend with
perf during W1 and W2 into out/perf-*.txt), RK_BENCH_CLIENTS (e.g. "rawc,routerkeys": only
those), RK_BENCH_WORKLOADS (e.g. "W1,W2": only those; W7, durable provisioning, and W8,
latency-bound work, run only when named, or with "all"), RK_BENCH_IDLE_S (60: W7's idle window), RK_BENCH_SKIP (set by
run.sh: "client=why;...").

Timings are reported, never asserted: the exit status is non-zero only when a measurement
could not be made (an error, a wrong count, a timeout), after one retry.
"""
import csv
import datetime
import hashlib
import itertools
import json
import math
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "out")
RAWC = os.path.join(OUT, "rawc")
SDK = os.path.join(HERE, "sdk.mjs")
STUB = os.environ["RK_STUB_URL"].rstrip("/")
ROUNDS = int(os.environ.get("RK_BENCH_ROUNDS", "3"))
BUDGET_S = float(os.environ.get("RK_BENCH_BUDGET_S", "600"))
PERF = os.environ.get("RK_BENCH_PERF") == "1"

N_GET = 2000          # W1 calls
N_LIST = 100000       # W2 keys
N_CREATE = 2000       # W3 creates
N_TX = 500            # W6 calls of each kind
LATENCY_MS = 10       # W3 latency the stub adds
N_REPORT = 10000      # W4 tenants
PAGE = 200            # page_size / limit
REPS = {"W1": 2, "W4": 2}   # measurements per round of the quick workloads (others: 1)
COLD_REPS = 5         # W5 cold calls per round and client (the SDK: 2, it takes seconds)
STEP_TIMEOUT_S = 120  # any one measurement
N_DRAIN = 2000        # W7a intents committed at once
DRAIN_CONC = (16, 1)  # W7a max_concurrency: the default, and one at a time
N_SPACED = 200        # W7b intents, each committed alone
SPACING_S = 0.05      # W7b time between two of them
SPACED_LATENCY_MS = (0, 20)     # W7b latencies the stub adds
IDLE_S = float(os.environ.get("RK_BENCH_IDLE_S", "60"))     # W7c window
W7_SERVER = "bench_w7"          # W7's own foreign server, made and dropped by W7
W7_POLL_S = 0.01      # W7 poll of the outbox while it drains
W8_LATENCY_MS = 20    # W8a, c, d: the latency the stub adds to each request
N8_KEYS = 10000       # W8: the keys the stub holds
N8_TENANTS = 1000     # W8b: local tenants, each holding one of those keys
# W8b: the report at (latency ms, tenants); at 50 ms, 100 tenants: a GET per tenant for 1 000
# would take 50 s one at a time (the foreign table sends them so, one per outer row)
REPORT_POINTS = ((0, 1000), (10, 1000), (50, 100))
# and checks of the planner's choice near the crossover, which moves with the latency (the
# planner costs a request at what the session's requests have taken lately)
REPORT_CHECKS = ((0, 40), (0, 200), (10, 40))
N8_ANY = 16           # W8c: ids in id = ANY(...)
N8_CREATE = 200       # W8d creates
W8_BATCH = 32         # W8d batch_size and raw C's concurrency
W8_CONC = 64          # W8b: GETs at once of a scan of id = ANY(...) (libcurl's limit in
                      # src/http.c, RK_MAX_CONNECTIONS), and of its raw C reference
W8_SCHEMA = "bench_w8"          # W8's own foreign table (batch_size 32), made and dropped by W8
W8_STEP_TIMEOUT_S = 60          # any one W8 measurement
W8_REPS = 2           # measurements per round of W8a, c, d (W8b: 1, at +0 ms: 3)
W8_REPS_B0 = 3
W8_WARM_N = 5         # W8b: requests a session makes before its statement (untimed)

HAVE = {c: True for c in ("rawc", "routerkeys", "plpython", "sdk", "wrk")}
SKIPPED = {}          # client -> why
ERRORS = []           # (row key, message)
START = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - START:6.1f}s] {msg}", flush=True)


# --- the stub's admin API -------------------------------------------------------------------

def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(STUB + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read().decode()
    return json.loads(text) if text else {}


def stub_reset(latency_ms=0):
    admin("POST", "/__admin/reset")
    if latency_ms:
        admin("POST", "/__admin/config", {"latency_ms": latency_ms})


def stub_seed(n):
    """Seeds n keys; the id of the newest."""
    return admin("POST", "/__admin/seed", {"count": n})["last_id"]


def stub_keys():
    return admin("GET", "/__admin/state")["keys"]


# --- psql sessions --------------------------------------------------------------------------

class SqlError(Exception):
    pass


def lit(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


class Session:
    """One psql process, so one backend, fed statements on its standard input."""

    _markers = itertools.count()

    def __init__(self):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err)
        self.buf = b""
        self.query(f"SET statement_timeout = '{STEP_TIMEOUT_S}s'")
        self.pid = int(self.query("SELECT pg_backend_pid()")[0][0])

    def query(self, sql, timeout=STEP_TIMEOUT_S + 10):
        marker = f"@@rk-bench-{next(self._markers)}@@".encode()
        self.proc.stdin.write(sql.rstrip().rstrip(";").encode() + b";\n\\echo " + marker + b"\n")
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while marker + b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close(kill=True)
                raise SqlError(f"timed out after {timeout:.0f}s: {sql[:120]}")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                self.proc.wait(timeout=10)
                self.err.seek(0)
                raise SqlError(self.err.read().decode(errors="replace").strip() or
                               f"psql exited with status {self.proc.returncode}")
            self.buf += data
        out, _, self.buf = self.buf.partition(marker + b"\n")
        return [line.split("\t") for line in out.decode().splitlines() if line]

    def close(self, kill=False):
        if self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(kill=exc[0] is not None)


def psql(sql):
    """One statement in a session of its own; its rows."""
    with Session() as s:
        return s.query(sql)


def time_sql(work, warm=None, before=(), expect=None, perf=None):
    """Times work in a new backend, after warm: {ms, n, mem_kb, cpu_ms, wait_ms}."""
    with Session() as s:
        for stmt in before:
            s.query(stmt)
        recorder = None
        if perf:
            if warm:
                s.query(warm)
                warm = None
            recorder = subprocess.Popen(["perf", "record", "-g", "-F", "2999", "-o", perf,
                                         "-p", str(s.pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        try:
            ms, n, hwm0, hwm1, cpu, wait = s.query(
                f"SELECT * FROM bench.time_it({lit(warm)}, {lit(work)})")[0]
        finally:
            if recorder:
                recorder.send_signal(signal.SIGINT)
                recorder.wait(timeout=60)
    if expect is not None and int(n) != expect:
        raise SqlError(f"expected {expect}, got {n}: {work[:100]}")
    return {"ms": float(ms), "n": int(n), "mem_kb": int(hwm1) - int(hwm0),
            "cpu_ms": float(cpu), "wait_ms": float(wait)}


# --- external clients -----------------------------------------------------------------------

def run_kv(argv, expect=None, timeout=STEP_TIMEOUT_S):
    """Runs rawc or sdk.mjs; its key=value line as a dict of floats."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{os.path.basename(argv[0])} {argv[1]} failed "
                           f"({p.returncode}): {(p.stderr or p.stdout).strip()[:400]}")
    line = p.stdout.strip().splitlines()[-1]
    kv = {k: float(v) for k, v in (f.split("=", 1) for f in line.split())}
    if expect is not None and int(kv["count"]) != expect:
        raise RuntimeError(f"expected {expect}, got {kv['count']:.0f}: {' '.join(argv[:2])}")
    return kv


def rawc(*args, expect=None, url=None, timeout=STEP_TIMEOUT_S):
    return run_kv([RAWC, args[0], url or STUB, *map(str, args[1:])], expect, timeout)


def sdk(*args, expect=None):
    return run_kv(["node", SDK, args[0], STUB, *map(str, args[1:])], expect)


def wall_ms(argv, expect_out, timeout=60):
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    ms = (time.perf_counter() - t0) * 1000
    if p.returncode != 0 or expect_out not in p.stdout:
        raise RuntimeError(f"{' '.join(argv[:3])}: status {p.returncode}, "
                           f"{(p.stderr or p.stdout).strip()[:300]}")
    return ms


# A measurement returns {row key: (value, cpu% or None)}; these make that from the above.

def scaled(d, factor):
    """A time_sql / run_kv result as (ms * factor, cpu%, run-queue wait%)."""
    pct = {k: None if d.get(k) is None or not d["ms"] else 100 * d[k] / d["ms"]
           for k in ("cpu_ms", "wait_ms")}
    return (d["ms"] * factor, pct["cpu_ms"], pct["wait_ms"])


# --- the table's rows -----------------------------------------------------------------------

class Row:
    def __init__(self, key, workload, client, unit, who, ref, nginx=False):
        self.key, self.workload, self.client, self.unit = key, workload, client, unit
        self.who = who          # which client family (for skipping)
        self.ref = ref          # key of the raw C row to divide by
        self.nginx = nginx      # measured against the nginx reference server
        self.samples = []
        self.cpu = []
        self.cpu_abs = []       # CPU time of the client process, in the row's unit
        self.wait = []
        self.error = None

    def median(self):
        return statistics.median(self.samples) if self.samples else None

    def cpu_median(self):
        return statistics.median(self.cpu) if self.cpu else None

    def wait_median(self):
        return statistics.median(self.wait) if self.wait else None

    def cpu_abs_median(self):
        return statistics.median(self.cpu_abs) if self.cpu_abs else None


ROWS = {}


def row(key, workload, client, unit, who, ref=None, nginx=False):
    ROWS[key] = Row(key, workload, client, unit, who, ref, nginx)


W1 = f"W1 get_key x{N_GET}, warm session"
W2 = "W2 list 100 000 keys, count"
W2M = "W2 peak memory growth"
W3S = f"W3 create {N_CREATE}, +{LATENCY_MS} ms, one at a time"
W3C = f"W3 create {N_CREATE}, +{LATENCY_MS} ms, concurrent"
W4J = "W4 report: 10 000 tenants JOIN status"
W4L = "W4 list 10 000 keys (W2 at W4's size)"
W5 = "W5 cold first call, new process"
W6 = f"W6 transactional on vs off, x{N_TX}"
W7A = f"W7 outbox: drain {N_DRAIN} creates, +{LATENCY_MS} ms"
W7B = f"W7 outbox: COMMIT to key, idle, x{N_SPACED}"
W7C = f"W7 outbox: idle worker, {IDLE_S:g} s"
CAP = "stub capacity (wrk, keep-alive)"
CAPN = "nginx capacity (wrk, keep-alive)"
W1N = f"W1 get_key x{N_GET}, against nginx"
W2N = "W2 list 100 000 keys, against nginx"
W4JN = "W4 report JOIN status, against nginx"
W4LN = "W4 list 10 000 keys, against nginx"

row("cap/get4", CAP, "GET one key, -c4 -t2 -d5s", "req/s", "wrk")
row("cap/get1", CAP, "GET one key, -c1 -t1 -d3s", "us/req", "wrk")
row("cap/list1", CAP, f"GET a page of {PAGE}, -c1 -t1 -d3s", "ms/page", "wrk")
row("cap/ngx_get1", CAPN, "GET one key, -c1 -t1 -d3s", "us/req", "wrk", nginx=True)
row("cap/ngx_list1", CAPN, f"GET a page of {PAGE}, -c1 -t1 -d3s", "ms/page", "wrk",
    nginx=True)

row("w1/rawc", W1, "raw C (libcurl easy, keep-alive)", "us/call", "rawc")
row("w1/rk_get", W1, "routerkeys get_key() LATERAL", "us/call", "routerkeys", "w1/rawc")
row("w1/rk_ft", W1, "routerkeys foreign table, PL/pgSQL loop", "us/call", "routerkeys",
    "w1/rawc")
row("w1/py", W1, "PL/Python requests.Session", "us/call", "plpython", "w1/rawc")
row("w1/sdk", W1, "Node SDK @orq-ai/node", "us/call", "sdk", "w1/rawc")
# The same work against nginx serving the stub's answers as files (the reference server
# that is not the bottleneck); routerkeys through the server bench_static.
row("w1n/rawc", W1N, "raw C (libcurl easy, keep-alive)", "us/call", "rawc", nginx=True)
row("w1n/rk_get", W1N, "routerkeys get_key() LATERAL", "us/call", "routerkeys", "w1n/rawc",
    nginx=True)
row("w1n/rk_ft", W1N, "routerkeys foreign table, PL/pgSQL loop", "us/call", "routerkeys",
    "w1n/rawc", nginx=True)

row("w2/rawc", W2, "raw C", "s", "rawc")
row("w2/rk_view", W2, "routerkeys view routerkeys.keys", "s", "routerkeys", "w2/rawc")
row("w2/rk_fn", W2, "routerkeys list_keys()", "s", "routerkeys", "w2/rawc")
row("w2/rk_ft", W2, "routerkeys foreign table router_keys", "s", "routerkeys", "w2/rawc")
row("w2/py", W2, "PL/Python (generator)", "s", "plpython", "w2/rawc")
row("w2/sdk", W2, "Node SDK", "s", "sdk", "w2/rawc")
row("w2m/rawc", W2M, "raw C (process)", "MB", "rawc")
row("w2m/rk_view", W2M, "routerkeys view (backend)", "MB", "routerkeys")
row("w2m/rk_fn", W2M, "routerkeys list_keys() (backend)", "MB", "routerkeys")
row("w2m/rk_ft", W2M, "routerkeys foreign table (backend)", "MB", "routerkeys")
row("w2m/py", W2M, "PL/Python (backend)", "MB", "plpython")
row("w2m/sdk", W2M, "Node SDK (process)", "MB", "sdk")
row("w2n/rawc", W2N, "raw C", "s", "rawc", nginx=True)
row("w2n/rk_view", W2N, "routerkeys view routerkeys.keys", "s", "routerkeys", "w2n/rawc",
    nginx=True)
row("w2n/rk_fn", W2N, "routerkeys list_keys()", "s", "routerkeys", "w2n/rawc", nginx=True)
row("w2n/rk_ft", W2N, "routerkeys foreign table", "s", "routerkeys", "w2n/rawc", nginx=True)

row("w3/rawc_1", W3S, "raw C (serial, keep-alive)", "s", "rawc")
row("w3/rk_trig", W3S, "routerkeys create_key() row trigger", "s", "routerkeys", "w3/rawc_1")
row("w3/py_trig", W3S, "PL/Python create row trigger", "s", "plpython", "w3/rawc_1")
for _c in (16, 32):
    row(f"w3/rawc_{_c}", W3C, f"{_c} at once: raw C (curl multi)", "s", "rawc")
    row(f"w3/rk_ft_{_c}", W3C, f"{_c} at once: routerkeys FT batch_size {_c}", "s",
        "routerkeys", f"w3/rawc_{_c}")
    row(f"w3/sdk_{_c}", W3C, f"{_c} at once: Node SDK, {_c} workers", "s", "sdk",
        f"w3/rawc_{_c}")

row("w4/rawc", W4J, "raw C (list + hash)", "ms", "rawc")
row("w4/rk_view", W4J, "routerkeys JOIN routerkeys.keys", "ms", "routerkeys", "w4/rawc")
row("w4/rk_ft", W4J, "routerkeys JOIN router_keys (FT)", "ms", "routerkeys", "w4/rawc")
row("w4/py", W4J, "PL/Python JOIN bench_py.list_keys()", "ms", "plpython", "w4/rawc")
row("w4/sdk", W4J, "Node SDK (list + Map)", "ms", "sdk", "w4/rawc")
row("w4l/rawc", W4L, "raw C", "ms", "rawc")
row("w4l/rk_view", W4L, "routerkeys view", "ms", "routerkeys", "w4l/rawc")
row("w4l/rk_ft", W4L, "routerkeys foreign table", "ms", "routerkeys", "w4l/rawc")
row("w4l/py", W4L, "PL/Python", "ms", "plpython", "w4l/rawc")
row("w4l/sdk", W4L, "Node SDK", "ms", "sdk", "w4l/rawc")
row("w4n/rawc", W4JN, "raw C (list + hash)", "ms", "rawc", nginx=True)
row("w4n/rk_view", W4JN, "routerkeys JOIN routerkeys.keys", "ms", "routerkeys", "w4n/rawc",
    nginx=True)
row("w4n/rk_ft", W4JN, "routerkeys JOIN router_keys (FT)", "ms", "routerkeys", "w4n/rawc",
    nginx=True)
row("w4ln/rawc", W4LN, "raw C", "ms", "rawc", nginx=True)
row("w4ln/rk_view", W4LN, "routerkeys view", "ms", "routerkeys", "w4ln/rawc", nginx=True)
row("w4ln/rk_ft", W4LN, "routerkeys foreign table", "ms", "routerkeys", "w4ln/rawc",
    nginx=True)

row("w6/get_off", W6, "get_key() LATERAL, routerkeys.transactional off", "us/call", "routerkeys")
row("w6/get_on", W6, "get_key() LATERAL, on (the default)", "us/call", "routerkeys", "w6/get_off")
row("w6/trig_off", W6, "create from the row trigger, one INSERT, off", "us/call", "routerkeys")
row("w6/trig_on", W6, "create from the row trigger, one INSERT, on", "us/call", "routerkeys",
    "w6/trig_off")
row("w6/upd_off", W6, "update_key(), a transaction each, off", "us/call", "routerkeys")
row("w6/upd_on", W6, "update_key(), a transaction each, on: GET, PATCH at commit", "us/call",
    "routerkeys", "w6/upd_off")

row("w5/rawc", W5, "raw C (rawc cold)", "ms", "rawc")
row("w5/psql1", W5, "psql -c 'SELECT 1' (baseline)", "ms", "routerkeys", "w5/rawc")
row("w5/rk_get", W5, "psql -c get_key()", "ms", "routerkeys", "w5/rawc")
row("w5/rk_ft", W5, "psql -c FT WHERE id = ...", "ms", "routerkeys", "w5/rawc")
row("w5/py", W5, "psql -c bench_py.get_key()", "ms", "plpython", "w5/rawc")
row("w5/sdk", W5, "node sdk.mjs cold", "ms", "sdk", "w5/rawc")

row("w7/rawc_16", W7A, "16 at once: raw C (curl multi)", "s", "rawc")
row("w7/rk_16", W7A, "max_concurrency 16 (default): COMMIT to last done_at", "s", "routerkeys",
    "w7/rawc_16")
row("w7/rk_16_seen", W7A, "max_concurrency 16: COMMIT to drained, seen by a 10 ms poll", "s",
    "routerkeys", "w7/rawc_16")
row("w7/rk_1", W7A, "max_concurrency 1 (one at a time): COMMIT to last done_at", "s",
    "routerkeys")
row("w7/enqueue", W7A, f"the INSERT of {N_DRAIN} rows (provision trigger) before COMMIT", "ms",
    "routerkeys")
for _l in SPACED_LATENCY_MS:
    row(f"w7b/p50_{_l}", W7B, f"+{_l} ms: done_at - enqueued_at, p50", "ms", "routerkeys")
    row(f"w7b/p99_{_l}", W7B, f"+{_l} ms: done_at - enqueued_at, p99", "ms", "routerkeys")
row("w7c/cpu", W7C, "worker CPU time (utime+stime, /proc/<pid>/stat)", "ms", "routerkeys")
row("w7c/wakeups", W7C, "worker context switches (wake-ups)", "count", "routerkeys")
row("w7c/scans", W7C, "worker reads of the outbox (scans of routerkeys.intent)", "count",
    "routerkeys")
row("w7c/xacts", W7C, "transactions in the database, less the bench's one read", "count",
    "routerkeys")

W8A = f"W8a +{W8_LATENCY_MS} ms: list {N8_KEYS // 1000} 000 keys, count"
W8C = f"W8c +{W8_LATENCY_MS} ms: id = ANY({N8_ANY} ids)"
W8D = f"W8d +{W8_LATENCY_MS} ms: {N8_CREATE} creates, {W8_BATCH} at once"


def w8b_label(lat, n):
    if (lat, n) in REPORT_CHECKS:
        return f"W8b check +{lat} ms, {n} tenants"
    return f"W8b report +{lat} ms, {n} tenants" + (" (capped)" if n < N8_TENANTS else "")


row("w8a/rawc", W8A, "raw C (paged listing, one connection)", "ms", "rawc")
row("w8a/rk_ft", W8A, "routerkeys foreign table, count(*)", "ms", "routerkeys", "w8a/rawc")
row("w8a/rk_fn", W8A, "routerkeys list_keys(), count(*)", "ms", "routerkeys", "w8a/rawc")
for _l, _n in REPORT_POINTS + REPORT_CHECKS:
    _g, _p = w8b_label(_l, _n), f"{_l}_{_n}"
    row(f"w8b/rawc_row_{_p}", _g, "raw C: a GET per tenant, one at a time", "ms", "rawc")
    row(f"w8b/rk_row_{_p}", _g, "routerkeys per-row GETs (forced: LATERAL)", "ms",
        "routerkeys", f"w8b/rawc_row_{_p}")
    if _l == 0:
        row(f"w8b/rk_rownj_{_p}", _g, "routerkeys per-row GETs, LATERAL, jit off", "ms",
            "routerkeys", f"w8b/rawc_row_{_p}")
    row(f"w8b/rawc_list_{_p}", _g, "raw C: listing + hash", "ms", "rawc")
    row(f"w8b/rk_list_{_p}", _g, "routerkeys listing + hash join (forced)", "ms", "routerkeys",
        f"w8b/rawc_list_{_p}")
    row(f"w8b/rk_plan_{_p}", _g, "routerkeys as planned", "ms", "routerkeys")
    if (_l, _n) in REPORT_POINTS:
        row(f"w8b/rawc_c{W8_CONC}_{_p}", _g, f"raw C: a GET per tenant, {W8_CONC} at once",
            "ms", "rawc")
        row(f"w8b/rk_any_{_p}", _g, "routerkeys + AND k.id = ANY(ARRAY(SELECT..))", "ms",
            "routerkeys", f"w8b/rawc_c{W8_CONC}_{_p}")
row(f"w8c/rawc_{N8_ANY}", W8C, f"raw C: {N8_ANY} GETs at once (curl multi)", "ms", "rawc")
row("w8c/rk_ft", W8C, f"routerkeys FT WHERE id = ANY({N8_ANY} ids)", "ms", "routerkeys",
    f"w8c/rawc_{N8_ANY}")
row("w8c/rawc_1", W8C, f"raw C: {N8_ANY} GETs one at a time", "ms", "rawc")
row("w8c/rk_get", W8C, f"routerkeys get_key() x{N8_ANY}, LATERAL", "ms", "routerkeys",
    "w8c/rawc_1")
row(f"w8d/rawc_{W8_BATCH}", W8D, f"raw C: curl multi, {W8_BATCH} in flight", "ms", "rawc")
row(f"w8d/rk_ft_{W8_BATCH}", W8D, f"routerkeys INSERT ... SELECT, batch_size {W8_BATCH}", "ms",
    "routerkeys", f"w8d/rawc_{W8_BATCH}")


def record(key, fn):
    """Runs one measurement (once more after a failure) and files its samples."""
    r = ROWS[key]
    if not HAVE.get(r.who, True) or (r.nginx and NGINX is None):
        return
    for attempt in (1, 2):
        try:
            result = fn()
            break
        except Exception as e:  # noqa: BLE001 - reported, the run goes on
            msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            log(f"  {key}: ERROR {msg}" + (" (trying once more)" if attempt == 1 else ""))
            if attempt == 2:
                r.error = msg
                ERRORS.append((key, msg))
                return
    if not isinstance(result, dict):
        result = {key: result}
    shown = []
    for k, v in result.items():
        value, cpu, wait = v if isinstance(v, tuple) else (v, None, None)
        ROWS[k].samples.append(value)
        if cpu is not None:
            ROWS[k].cpu.append(cpu)
            ROWS[k].cpu_abs.append(value * cpu / 100)
        if wait is not None:
            ROWS[k].wait.append(wait)
        shown.append(f"{k} {value:.4g} {ROWS[k].unit}" + (f" (cpu {cpu:.0f}%)" if cpu else ""))
    log("  " + ", ".join(shown))


def rotate(items, n):
    n %= len(items)
    return items[n:] + items[:n]


# --- the reference server: nginx serving the stub's answers as static files -----------------
#
# The stub (libmicrohttpd, JSON built per request) takes 20 to 80 us a key at wrk -c1 on 2
# cores, a large part of a W1 call.  nginx serves the same answers, fetched from the stub once with the
# exact requests routerkeys and rawc send (GET /v2/api-keys/{id}; GET /v2/api-keys with
# ?source=router&limit=200, then &starting_after=<the last id of the previous page>, until a
# page shorter than the limit), as files: a key as www/keys/<id>.json, a page as
# www/list/<its query string, byte for byte>.json (try_files on $args, so any other query
# string is a 404).  It listens on 127.0.0.1 only, keep-alive, one process, Content-Type
# application/json, and its Date header; it does not check the authorization.  Every answer
# that is not a 2xx is logged (misses.log) and fails the measurement that caused it.

STATIC_SERVER = "bench_static"  # the foreign server whose url is nginx's
STATIC_SQL = (f"SET routerkeys.default_server = {STATIC_SERVER}",
              # router_keys (also inside bench.ft_get_loop) is then the table of bench_static
              f"SET search_path = {STATIC_SERVER}, public")
NGINX = None          # the running Nginx, or None
NGINX_SKIP = None     # why the rows against nginx are not measured
NGINX_WORKLOADS = ("W1", "W2", "W4")

NGINX_CONF = """\
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 256;
}}
http {{
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ }}
    default_type application/json;
    charset off;
    server_tokens off;
    etag off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 300s;
    keepalive_requests 100000000;
    log_format rk_miss '$status $request_method $request_uri';
    map $status $rk_miss {{
        ~^2 0;
        default 1;
    }}
    access_log {d}/misses.log rk_miss if=$rk_miss;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location = /v2/api-keys {{
            try_files /list/$args.json =404;
        }}
        location ~ ^/v2/api-keys/([0-9A-Za-z]+)$ {{
            sendfile off;   # a key's few hundred bytes go out with the header, in one write
            try_files /keys/$1.json =404;
        }}
        location = /__ready {{
            try_files /ready.json =404;
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""


def nginx_binary():
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent():
    """In nginx's child: SIGTERM when the bench dies, however it dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class Nginx:
    """nginx in a temporary folder of its own (inside the test bed's folder, which test/run.sh
    removes in any case), on a free loopback port; stop() ends it and removes the folder."""

    def __init__(self, binary):
        self.binary = binary
        base = os.environ.get("PGHOST", "")
        base = base if os.path.isdir(base) and os.access(base, os.W_OK) else None
        self.dir = tempfile.mkdtemp(prefix="rk-bench-nginx.", dir=base)
        os.chmod(self.dir, 0o755)
        self.www = os.path.join(self.dir, "www")
        self.misses = os.path.join(self.dir, "misses.log")
        self.proc = None
        self.url = None
        self.version = subprocess.run([binary, "-v"], capture_output=True, text=True,
                                      timeout=20).stderr.strip().split("/")[-1]
        for sub in ("www", "tmp"):
            os.makedirs(os.path.join(self.dir, sub), mode=0o755)
        with open(os.path.join(self.www, "ready.json"), "w") as f:
            f.write("{}\n")

    def start(self):
        last = ""
        for _ in range(3):      # a port another process took meanwhile: another one
            port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(d=self.dir, port=port))
            err = os.path.join(self.dir, "stderr.log")
            with open(err, "w") as errf:
                self.proc = subprocess.Popen(
                    [self.binary, "-p", self.dir + "/", "-c", conf,
                     "-e", os.path.join(self.dir, "error.log")],
                    stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                    start_new_session=True, preexec_fn=_die_with_parent)
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    status, headers, _ = self.get("/__ready")
                    if status != 200:
                        raise RuntimeError(f"nginx answered {status} to /__ready")
                    ctype = headers.get("Content-Type", "")
                    if ctype.split(";")[0].strip() != "application/json" or "Date" not in headers:
                        raise RuntimeError(f"nginx answered without Content-Type "
                                           f"application/json or Date: {dict(headers)}")
                    return self
                except OSError:
                    time.sleep(0.05)
            last = ""
            for name in ("stderr.log", "error.log"):
                try:
                    with open(os.path.join(self.dir, name), errors="replace") as f:
                        last += f.read().strip()[-300:]
                except OSError:
                    pass
            self.terminate()
        raise RuntimeError(f"nginx did not start: {last or 'no answer within 10 s'}")

    def get(self, path):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", int(self.url.rsplit(":", 1)[1]),
                                          timeout=5)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.headers, r.read()
        finally:
            conn.close()

    def clear_misses(self):
        if os.path.exists(self.misses):
            open(self.misses, "w").close()      # nginx appends (O_APPEND) from the new end

    def check_misses(self):
        """Raises when nginx answered anything but a 2xx since clear_misses()."""
        try:
            with open(self.misses, errors="replace") as f:
                lines = [ln.strip() for ln in f if ln.strip()]
        except OSError:
            return
        if lines:
            raise RuntimeError(f"nginx answered {len(lines)} requests with no file for them, "
                               f"first: {lines[0][:200]}")

    def terminate(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def stop(self):
        self.terminate()
        shutil.rmtree(self.dir, ignore_errors=True)


def nginx_start():
    """Starts nginx when a workload that has rows against it runs; else says why not."""
    global NGINX, NGINX_SKIP
    if ROUNDS == 0 or not any(w in NGINX_WORKLOADS for w, _ in WORKLOADS):
        NGINX_SKIP = "no workload of W1, W2, W4 runs"
        return
    if not (HAVE["rawc"] or HAVE["routerkeys"] or HAVE["wrk"]):
        NGINX_SKIP = "neither rawc nor routerkeys nor wrk is among the clients"
        return
    binary = nginx_binary()
    if binary is None:
        NGINX_SKIP = "nginx is not installed (test/deps.sh --bench installs it)"
        return
    n = None
    try:
        n = Nginx(binary)
        NGINX = n.start()
    except Exception as e:  # noqa: BLE001 - the rows against nginx are skipped, with why
        NGINX_SKIP = f"nginx could not be started: {str(e)[:300]}"
        if n:
            n.stop()


def nginx_stop():
    global NGINX
    if NGINX is not None:
        NGINX.stop()
        NGINX = None


def nginx_publish(key_ids, listing):
    """Fetches from the stub, once, the answers nginx is to serve, and writes them as its files:
    each key of key_ids, and the listing ("all" its pages, "first" its first page, or none)."""
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(STUB)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    auth = {"Authorization": "Bearer rk-test-provisioning-valid", "Accept": "application/json"}

    def fetch(path):
        conn.request("GET", path, headers=auth)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"the stub answered {r.status} to GET {path}")
        return body

    def write(path, body):
        with open(path, "wb") as f:
            f.write(body)

    keys_dir, list_dir = os.path.join(NGINX.www, "keys"), os.path.join(NGINX.www, "list")
    try:
        for d in (keys_dir, list_dir):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d, mode=0o755)
        for key_id in key_ids:
            path = "/v2/api-keys/" + urllib.parse.quote(key_id, safe="-._~")
            write(os.path.join(keys_dir, key_id + ".json"), fetch(path))
        pages = 0
        query = f"source=router&limit={PAGE}"      # as src/dialect_orq.c build_list
        while listing:
            body = fetch("/v2/api-keys?" + query)
            write(os.path.join(list_dir, query + ".json"), body)
            pages += 1
            doc = json.loads(body)
            keys = doc["data"] if isinstance(doc, dict) else doc
            last = (not keys or listing == "first" or
                    (doc.get("has_more") is False if isinstance(doc, dict) else len(keys) < PAGE))
            if last:
                break
            if pages > N_LIST // PAGE + 10:
                raise RuntimeError("the stub's listing does not end")
            cursor = keys[-1].get("id") or keys[-1].get("api_key_id")
            query = (f"source=router&limit={PAGE}&starting_after="
                     + urllib.parse.quote(cursor, safe="-._~"))
    finally:
        conn.close()
    NGINX.clear_misses()


SERVER_CPU = {}      # row key -> nginx's CPU time per call, in the row's unit, each sample


def against_nginx(key, fn, per_call=None):
    """A measurement against nginx: fails when nginx had no file for a request it made.  With
    per_call, files nginx's CPU time meanwhile (/proc/<pid>/schedstat: one process, one
    thread), ms times per_call as for the row's value, in SERVER_CPU[key]."""
    def run():
        NGINX.clear_misses()
        s0 = proc_sched(NGINX.proc.pid)
        value = fn()
        s1 = proc_sched(NGINX.proc.pid)
        NGINX.check_misses()
        if per_call is not None and s0 and s1:
            SERVER_CPU.setdefault(key, []).append((s1[0] - s0[0]) * per_call)
        return value
    return run


def static_teardown(s):
    s.query("SET client_min_messages = warning")
    s.query(f"DROP SCHEMA IF EXISTS {STATIC_SERVER} CASCADE")
    s.query(f"DROP SERVER IF EXISTS {STATIC_SERVER} CASCADE")
    s.query("RESET client_min_messages")


class StaticServer:
    """The foreign server bench_static (url: nginx's), its user mapping, and its foreign table
    bench_static.router_keys (IMPORT FOREIGN SCHEMA), for the rows against nginx.  It exists
    only while they run: with two routerkeys servers, a call that names none needs
    routerkeys.default_server, which the stub's rows do not set."""

    def __enter__(self):
        if HAVE["routerkeys"]:
            with Session() as s:
                static_teardown(s)     # what an interrupted run may have left
                s.query(f"CREATE SERVER {STATIC_SERVER} FOREIGN DATA WRAPPER routerkeys "
                        f"OPTIONS (url {lit(NGINX.url)}, page_size '{PAGE}')")
                s.query(f"CREATE USER MAPPING FOR CURRENT_USER SERVER {STATIC_SERVER} "
                        "OPTIONS (provisioning_key 'rk-test-provisioning-valid')")
                s.query(f"CREATE SCHEMA {STATIC_SERVER}")
                s.query(f"IMPORT FOREIGN SCHEMA router FROM SERVER {STATIC_SERVER} "
                        f"INTO {STATIC_SERVER}")
        return self

    def __exit__(self, *exc):
        if HAVE["routerkeys"]:
            with Session() as s:
                static_teardown(s)


def nginx_rows(keys):
    """Whether any of these rows (keys) is to be measured now."""
    return NGINX is not None and any(HAVE.get(ROWS[k].who, True) for k in keys)


# --- the workloads --------------------------------------------------------------------------

def w1(rnd):
    stub_reset()
    key_id = stub_seed(1000)
    one = f"SELECT count(*) FROM routerkeys.get_key({lit(key_id)})"
    loop = (f"SELECT count(*) FROM generate_series(1, {N_GET}) g, "
            f"LATERAL routerkeys.get_key({lit(key_id)} || left(g::text, 0))")
    py_one = f"SELECT count(*) FROM bench_py.get_key({lit(key_id)})"
    py_loop = (f"SELECT count(*) FROM generate_series(1, {N_GET}) g, "
               f"LATERAL bench_py.get_key({lit(key_id)} || left(g::text, 0))")
    per_call = 1000 / N_GET
    steps = [
        ("w1/rawc", lambda: scaled(rawc("get", key_id, N_GET, expect=N_GET), per_call)),
        ("w1/rk_get", lambda: scaled(time_sql(loop, one, expect=N_GET), per_call)),
        ("w1/rk_ft", lambda: scaled(time_sql(
            f"SELECT bench.ft_get_loop({lit(key_id)}, {N_GET})",
            f"SELECT bench.ft_get_loop({lit(key_id)}, 1)", expect=N_GET), per_call)),
        ("w1/py", lambda: scaled(time_sql(py_loop, py_one, expect=N_GET), per_call)),
        ("w1/sdk", lambda: scaled(sdk("get", key_id, N_GET, expect=N_GET), per_call)),
    ]
    for rep in range(REPS["W1"]):
        for key, fn in rotate(steps, rnd + rep):
            record(key, fn)

    # The same calls against nginx (the same statements, on the server bench_static).
    steps = [
        ("w1n/rawc", lambda: scaled(rawc("get", key_id, N_GET, expect=N_GET,
                                         url=NGINX.url), per_call)),
        ("w1n/rk_get", lambda: scaled(time_sql(loop, one, expect=N_GET, before=STATIC_SQL),
                                      per_call)),
        ("w1n/rk_ft", lambda: scaled(time_sql(
            f"SELECT bench.ft_get_loop({lit(key_id)}, {N_GET})",
            f"SELECT bench.ft_get_loop({lit(key_id)}, 1)", expect=N_GET, before=STATIC_SQL),
            per_call)),
    ]
    if nginx_rows(k for k, _ in steps):
        nginx_publish([key_id], None)
        with StaticServer():
            for rep in range(REPS["W1"]):
                for key, fn in rotate(steps, rnd + rep):
                    record(key, against_nginx(key, fn, per_call))


def w2(rnd):
    stub_reset()
    key_id = stub_seed(N_LIST)
    warm = f"SELECT count(*) FROM routerkeys.get_key({lit(key_id)})"
    warm_ft = f"SELECT count(*) FROM router_keys WHERE id = {lit(key_id)}"
    warm_py = f"SELECT count(*) FROM bench_py.get_key({lit(key_id)})"

    def sql(name, work, w):
        def run():
            d = time_sql(work, w, expect=N_LIST)
            return {f"w2/{name}": scaled(d, 1e-3), f"w2m/{name}": d["mem_kb"] / 1024}
        return run

    def ext(fn, name):
        def run():
            d = fn("list", PAGE, expect=N_LIST)
            return {f"w2/{name}": scaled(d, 1e-3), f"w2m/{name}": d["hwm_growth_kb"] / 1024}
        return run

    steps = [
        ("w2/rawc", ext(rawc, "rawc")),
        ("w2/rk_view", sql("rk_view", "SELECT count(*) FROM routerkeys.keys", warm)),
        ("w2/rk_fn", sql("rk_fn", "SELECT count(*) FROM routerkeys.list_keys()", warm)),
        ("w2/rk_ft", sql("rk_ft", "SELECT count(*) FROM router_keys", warm_ft)),
        ("w2/py", sql("py", "SELECT count(*) FROM bench_py.list_keys()", warm_py)),
        ("w2/sdk", ext(sdk, "sdk")),
    ]
    for key, fn in rotate(steps, rnd):
        record(key, fn)

    # The same listings against nginx (the same statements, on the server bench_static).
    def static(work, w):
        return lambda: scaled(time_sql(work, w, expect=N_LIST, before=STATIC_SQL), 1e-3)

    steps = [
        ("w2n/rawc", lambda: scaled(rawc("list", PAGE, expect=N_LIST, url=NGINX.url), 1e-3)),
        ("w2n/rk_view", static("SELECT count(*) FROM routerkeys.keys", warm)),
        ("w2n/rk_fn", static("SELECT count(*) FROM routerkeys.list_keys()", warm)),
        ("w2n/rk_ft", static("SELECT count(*) FROM router_keys", warm_ft)),
    ]
    if nginx_rows(k for k, _ in steps):
        nginx_publish([key_id], "all")
        with StaticServer():
            for key, fn in rotate(steps, rnd):
                record(key, against_nginx(key, fn, 1e-3))


NO_KEY = "01ZZZZZZZZZZZZZZZZZZZZZZZZ"   # a well-formed id the stub does not have
ONCE = ("w3/rawc_1", "w3/py_trig")      # W3 rows measured in the first round only


def w3_step(fn):
    """Resets the stub (names must not collide), sets the latency, runs fn, checks the count."""
    def run():
        stub_reset(LATENCY_MS)
        value = fn()
        live = stub_keys()
        if live != N_CREATE:
            raise RuntimeError(f"the stub holds {live} keys, expected {N_CREATE}")
        return value
    return run


def w3(rnd):
    rows = f"SELECT g, 'w3-' || g FROM generate_series(1, {N_CREATE}) g"
    warm = f"SELECT count(*) FROM routerkeys.get_key({lit(NO_KEY)})"
    warm_py = f"SELECT count(*) FROM bench_py.get_key({lit(NO_KEY)})"

    def ft(c):
        return lambda: scaled(time_sql(
            f"INSERT INTO router_keys (name) SELECT 'w3-' || g FROM generate_series(1, {N_CREATE}) g",
            warm, expect=N_CREATE,
            before=[f"ALTER FOREIGN TABLE router_keys OPTIONS (SET batch_size '{c}')"]), 1e-3)

    steps = [
        ("w3/rawc_1", lambda: scaled(rawc("create", N_CREATE, 1, "w3-", expect=N_CREATE), 1e-3)),
        ("w3/rk_trig", lambda: scaled(time_sql(
            f"INSERT INTO bench.tenants (id, name) {rows}", warm, expect=N_CREATE,
            before=["TRUNCATE bench.tenants, bench.tenant_tokens"]), 1e-3)),
        ("w3/py_trig", lambda: scaled(time_sql(
            f"INSERT INTO bench_py.tenants (id, name) {rows}", warm_py, expect=N_CREATE,
            before=["TRUNCATE bench_py.tenants, bench_py.tenant_tokens"]), 1e-3)),
    ]
    for c in (16, 32):
        steps += [
            (f"w3/rawc_{c}", lambda c=c: scaled(rawc("create", N_CREATE, c, "w3-",
                                                     expect=N_CREATE), 1e-3)),
            (f"w3/rk_ft_{c}", ft(c)),
            (f"w3/sdk_{c}", lambda c=c: scaled(sdk("create", N_CREATE, c, "w3-",
                                                   expect=N_CREATE), 1e-3)),
        ]
    if rnd > 0:     # latency-bound references, run in the first round only (~47 s)
        steps = [(k, fn) for k, fn in steps if k not in ONCE]
    try:
        for key, fn in rotate(steps, rnd):
            record(key, w3_step(fn))
    finally:
        stub_reset()
        admin("POST", "/__admin/config", {"latency_ms": 0})


IDS_FILE = os.path.join(OUT, "report_ids.txt")


def report_tenants(s):
    """Fills bench.report_tenants with the ids of the keys the stub holds."""
    s.query("TRUNCATE bench.report_tenants")
    s.query("INSERT INTO bench.report_tenants "
            "SELECT row_number() OVER (), id FROM routerkeys.list_keys()")
    s.query("ANALYZE bench.report_tenants")


def w4(rnd):
    stub_reset()
    key_id = stub_seed(N_REPORT)
    with Session() as s:
        report_tenants(s)
        ids = [r[0] for r in s.query("SELECT key_id FROM bench.report_tenants ORDER BY id")]
    if len(ids) != N_REPORT:
        raise RuntimeError(f"report set-up: {len(ids)} tenants")
    with open(IDS_FILE, "w") as f:
        f.write("\n".join(ids) + "\n")

    def join(src):
        return (f"SELECT sum(c) FROM (SELECT k.status, count(*) AS c FROM bench.report_tenants t "
                f"JOIN {src} k ON k.id = t.key_id GROUP BY k.status) r")

    warm = f"SELECT count(*) FROM routerkeys.get_key({lit(key_id)})"
    warm_ft = f"SELECT count(*) FROM router_keys WHERE id = {lit(key_id)}"
    warm_py = f"SELECT count(*) FROM bench_py.get_key({lit(key_id)})"

    def sql(work, w, before=()):
        return lambda: scaled(time_sql(work, w, expect=N_REPORT, before=before), 1)

    pairs = [
        [("w4/rawc", lambda: scaled(rawc("report", IDS_FILE, expect=N_REPORT), 1)),
         ("w4l/rawc", lambda: scaled(rawc("list", PAGE, expect=N_REPORT), 1))],
        [("w4/rk_view", sql(join("routerkeys.keys"), warm)),
         ("w4l/rk_view", sql("SELECT count(*) FROM routerkeys.keys", warm))],
        [("w4/rk_ft", sql(join("router_keys"), warm_ft)),
         ("w4l/rk_ft", sql("SELECT count(*) FROM router_keys", warm_ft))],
        [("w4/py", sql(join("bench_py.list_keys()"), warm_py)),
         ("w4l/py", sql("SELECT count(*) FROM bench_py.list_keys()", warm_py))],
        [("w4/sdk", lambda: scaled(sdk("report", IDS_FILE, expect=N_REPORT), 1)),
         ("w4l/sdk", lambda: scaled(sdk("list", PAGE, expect=N_REPORT), 1))],
    ]
    for rep in range(REPS["W4"]):
        for pair in rotate(pairs, rnd + rep):
            for key, fn in (pair if (rnd + rep) % 2 == 0 else pair[::-1]):
                record(key, fn)

    # The same report and listing against nginx (the same statements, on bench_static).
    pairs = [
        [("w4n/rawc", lambda: scaled(rawc("report", IDS_FILE, expect=N_REPORT,
                                          url=NGINX.url), 1)),
         ("w4ln/rawc", lambda: scaled(rawc("list", PAGE, expect=N_REPORT, url=NGINX.url), 1))],
        [("w4n/rk_view", sql(join("routerkeys.keys"), warm, STATIC_SQL)),
         ("w4ln/rk_view", sql("SELECT count(*) FROM routerkeys.keys", warm, STATIC_SQL))],
        [("w4n/rk_ft", sql(join("router_keys"), warm_ft, STATIC_SQL)),
         ("w4ln/rk_ft", sql("SELECT count(*) FROM router_keys", warm_ft, STATIC_SQL))],
    ]
    if nginx_rows(k for pair in pairs for k, _ in pair):
        nginx_publish([key_id], "all")
        with StaticServer():
            for rep in range(REPS["W4"]):
                for pair in rotate(pairs, rnd + rep):
                    for key, fn in (pair if (rnd + rep) % 2 == 0 else pair[::-1]):
                        record(key, against_nginx(key, fn, 1))


def w5(rnd):
    stub_reset()
    key_id = stub_seed(10)
    q = ["psql", "-X", "-A", "-t", "-c"]
    steps = [
        ("w5/rawc", [RAWC, "cold", STUB, key_id], "count=1"),
        ("w5/psql1", q + ["SELECT 1"], "1"),
        ("w5/rk_get", q + [f"SELECT status FROM routerkeys.get_key({lit(key_id)})"], "active"),
        ("w5/rk_ft", q + [f"SELECT status FROM router_keys WHERE id = {lit(key_id)}"], "active"),
        ("w5/py", q + [f"SELECT status FROM bench_py.get_key({lit(key_id)})"], "active"),
        ("w5/sdk", ["node", SDK, "cold", STUB, key_id], "count=1"),
    ]
    for rep in range(COLD_REPS):
        for key, argv, expect_out in rotate(steps, rnd + rep):
            if key == "w5/sdk" and rep >= 2:
                continue
            record(key, lambda a=argv, e=expect_out: wall_ms(a, e))


def timed_session(work, warm, before=()):
    """Times a statement that may commit (a CALL) from here, in a new backend after warm."""
    with Session() as s:
        for stmt in before:
            s.query(stmt)
        s.query(warm)
        t0 = time.monotonic()
        s.query(work)
        ms = (time.monotonic() - t0) * 1000
    return {"ms": ms, "n": N_TX, "mem_kb": 0, "cpu_ms": None, "wait_ms": None}


def w6(rnd):
    """What the transaction semantics cost: the same calls with routerkeys.transactional
    off and on. A get only looks at the (empty) list of effects; a create is remembered;
    an update reads the key first and sends its PATCH at commit."""
    stub_reset()
    key_id = stub_seed(10)
    per_call = 1000 / N_TX
    get = (f"SELECT count(*) FROM generate_series(1, {N_TX}) g, "
           f"LATERAL routerkeys.get_key({lit(key_id)} || left(g::text, 0))")
    warm = f"SELECT count(*) FROM routerkeys.get_key({lit(key_id)})"
    runs = itertools.count()

    def setting(on):
        return [f"SET routerkeys.transactional = {'on' if on else 'off'}"]

    def trig(on):
        def run():
            rows = (f"SELECT g, 'w6-{next(runs)}-' || g FROM generate_series(1, {N_TX}) g")
            return scaled(time_sql(f"INSERT INTO bench.tenants (id, name) {rows}", warm,
                                   expect=N_TX, before=setting(on) +
                                   ["TRUNCATE bench.tenants, bench.tenant_tokens"]), per_call)
        return run

    def upd(on):
        return lambda: scaled(timed_session(f"CALL bench.update_loop({lit(key_id)}, {N_TX})",
                                            warm, before=setting(on)), per_call)

    steps = [
        ("w6/get_off", lambda: scaled(time_sql(get, warm, expect=N_TX, before=setting(False)),
                                      per_call)),
        ("w6/get_on", lambda: scaled(time_sql(get, warm, expect=N_TX, before=setting(True)),
                                     per_call)),
        ("w6/trig_off", trig(False)),
        ("w6/trig_on", trig(True)),
        ("w6/upd_off", upd(False)),
        ("w6/upd_on", upd(True)),
    ]
    for key, fn in rotate(steps, rnd):
        record(key, fn)
    stub_reset()


# W7: durable provisioning.  Intents are written by the provision() trigger of a tenant table,
# in the caller's transaction; the worker (a background process, one per database) applies
# them after COMMIT.  W7 makes its own foreign server (so that max_concurrency can change
# without touching the other workloads' server), tenant table, token table and delivery
# function, and drops them, with its intents, at the end.

W7_RUNS = itertools.count(1)    # run numbers: the keys' names are w7-<run>-<id>
W7_NOTES = []                   # observations printed under the table
DIAG = os.path.join(OUT, "w7-diagnostics.txt")


def w7_setup(s):
    for stmt in (
            f"CREATE SERVER {W7_SERVER} FOREIGN DATA WRAPPER routerkeys OPTIONS (url {lit(STUB)})",
            f"CREATE USER MAPPING FOR CURRENT_USER SERVER {W7_SERVER} "
            "OPTIONS (provisioning_key 'rk-test-provisioning-valid')",
            "CREATE TABLE bench.w7_tenants (run int, id int, key_id text, PRIMARY KEY (run, id))",
            "CREATE TABLE bench.w7_tokens (tenant jsonb, key_id text, token text)",
            "CREATE FUNCTION bench.w7_store_token(context jsonb, key_id text, token text) "
            "RETURNS void LANGUAGE sql AS "
            "$$ INSERT INTO bench.w7_tokens VALUES (context, key_id, token) $$",
            "CREATE TRIGGER provision AFTER INSERT ON bench.w7_tenants FOR EACH ROW "
            "EXECUTE FUNCTION routerkeys.provision('name=w7-{run}-{id}', 'key_column=key_id', "
            f"'server={W7_SERVER}', 'deliver_to=bench.w7_store_token(jsonb,text,text)')"):
        s.query(stmt)


def w7_clear(s):
    """Removes W7's intents, tenants and tokens (the worker is asleep or has nothing of them)."""
    s.query(f"DELETE FROM routerkeys.intent WHERE server = {lit(W7_SERVER)}")
    s.query("TRUNCATE bench.w7_tenants, bench.w7_tokens")
    s.query("VACUUM (ANALYZE) routerkeys.intent")


def w7_teardown(s):
    s.query("SET client_min_messages = warning")
    for stmt in (f"DELETE FROM routerkeys.intent WHERE server = {lit(W7_SERVER)}",
                 "DROP TABLE IF EXISTS bench.w7_tenants, bench.w7_tokens",
                 "DROP FUNCTION IF EXISTS bench.w7_store_token(jsonb, text, text)",
                 f"DROP USER MAPPING IF EXISTS FOR CURRENT_USER SERVER {W7_SERVER}",
                 f"DROP SERVER IF EXISTS {W7_SERVER}",
                 "VACUUM (ANALYZE) routerkeys.intent"):
        s.query(stmt)
    s.query("RESET client_min_messages")


def w7_concurrency(s, conc):
    """Sets the server's max_concurrency; 16 is the default, set by dropping the option."""
    opts = s.query(f"SELECT coalesce(array_to_string(srvoptions, ','), '') "
                   f"FROM pg_foreign_server WHERE srvname = {lit(W7_SERVER)}")[0][0]
    has = any(o.startswith("max_concurrency=") for o in opts.split(","))
    if conc == 16:
        if has:
            s.query(f"ALTER SERVER {W7_SERVER} OPTIONS (DROP max_concurrency)")
    else:
        s.query(f"ALTER SERVER {W7_SERVER} OPTIONS ({'SET' if has else 'ADD'} "
                f"max_concurrency {lit(str(conc))})")


def worker_pid(s):
    r = s.query("SELECT pid FROM pg_stat_activity WHERE backend_type = 'routerkeys worker' "
                "AND datname = current_database()")
    return int(r[0][0]) if r else None


def proc_sched(pid):
    """A process's CPU time and run-queue wait so far, in ms (/proc/<pid>/schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            cpu, wait = f.read().split()[:2]
        return float(cpu) / 1e6, float(wait) / 1e6
    except (OSError, ValueError, TypeError):
        return None


def proc_counters(pid):
    """utime+stime in ms (/proc/<pid>/stat) and context switches (/proc/<pid>/status)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_ms = (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    switches = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                switches += int(line.split()[1])
    return cpu_ms, switches


def w7_fail(s, what):
    """Writes what the outbox and the server log show to out/w7-diagnostics.txt; raises."""
    lines = [f"--- {datetime.datetime.now().isoformat(timespec='seconds')} {what}"]
    try:
        rows = s.query(
            "SELECT state, attempts, coalesce(last_sqlstate, '-'), "
            "coalesce(left(last_message, 200), '-'), count(*), min(id), "
            "min(next_attempt_at)::text FROM routerkeys.outbox "
            f"WHERE server = {lit(W7_SERVER)} GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC", timeout=30)
        lines += ["outbox (state, attempts, sqlstate, message, count, first id, "
                  "first next_attempt_at):"] + ["  " + " | ".join(r) for r in rows]
        lines += ["worker: " + " | ".join(
            " ".join(r) for r in s.query(
                "SELECT pid, state, wait_event_type || ':' || wait_event, "
                "coalesce(left(query, 60), '') FROM pg_stat_activity "
                "WHERE backend_type = 'routerkeys worker'", timeout=30))]
    except Exception as e:  # noqa: BLE001 - the report goes on without
        lines.append(f"(could not read the outbox: {e})")
    log_path = os.environ.get("RK_SERVER_LOG")
    if log_path:
        try:
            with open(log_path, errors="replace") as f:
                tail = [ln.rstrip() for ln in f if re.search(
                    r"routerkeys|ERROR|WARNING|FATAL|PANIC|terminated", ln)][-40:]
            lines += [f"server log ({log_path}), last lines of interest:"] + tail
        except OSError as e:
            lines.append(f"(could not read {log_path}: {e})")
    with open(DIAG, "a") as f:
        f.write("\n".join(lines) + "\n")
    summary = "; ".join(lines[2:5]) if len(lines) > 2 else ""
    raise RuntimeError(f"{what} (out/{os.path.basename(DIAG)}: {summary[:220]})")


def w7_wait(s, run, deadline_s, what):
    """Polls until no intent of W7 is pending or sending; the server's clock then (epoch s)."""
    q = ("SELECT count(*), extract(epoch FROM clock_timestamp()) FROM routerkeys.intent "
         f"WHERE server = {lit(W7_SERVER)} AND state IN ('pending', 'sending')")
    deadline = time.monotonic() + deadline_s
    while True:
        n, at = s.query(q)[0]
        if int(n) == 0:
            return float(at)
        if time.monotonic() > deadline:
            w7_fail(s, f"{what}: {n} intents of run {run} still open after {deadline_s:.0f} s")
        time.sleep(W7_POLL_S)


def w7_check(s, run, n):
    """Every intent of a run is done, wrote its key id back, delivered its token once."""
    done, total, last = s.query(
        "SELECT count(*) FILTER (WHERE state = 'done'), count(*), "
        "coalesce(extract(epoch FROM max(done_at)), 0) FROM routerkeys.outbox "
        f"WHERE server = {lit(W7_SERVER)} AND key_name LIKE 'w7-{run}-%'")[0]
    written, delivered = s.query(
        "SELECT count(DISTINCT t.key_id), count(k.key_id) FROM bench.w7_tenants t "
        "LEFT JOIN bench.w7_tokens k ON k.key_id = t.key_id "
        f"WHERE t.run = {run} AND t.key_id IS NOT NULL")[0]
    if (int(done), int(total), int(written), int(delivered)) != (n, n, n, n):
        w7_fail(s, f"run {run}: {done} of {total} intents done (expected {n}), "
                   f"{written} key ids written back, {delivered} tokens delivered")
    return float(last)


def w7_warm(s):
    """One intent through the worker: it runs (started if need be), with the server's
    current options loaded and a connection open."""
    run = next(W7_RUNS)
    s.query(f"INSERT INTO bench.w7_tenants (run, id) VALUES ({run}, 0)")
    w7_wait(s, run, 30, "warm-up")
    w7_check(s, run, 1)


def w7_drain(conc, perf=None):
    """W7a: N_DRAIN intents in one transaction; COMMIT to the last done_at.  With perf (a
    file), the worker is profiled meanwhile."""
    def run():
        stub_reset(LATENCY_MS)
        with Session() as s:
            w7_clear(s)
            w7_concurrency(s, conc)
            w7_warm(s)
            pid = worker_pid(s)
            r = next(W7_RUNS)
            s.query("BEGIN")
            t_ins = float(s.query("SELECT extract(epoch FROM clock_timestamp())")[0][0])
            s.query(f"INSERT INTO bench.w7_tenants (run, id) "
                    f"SELECT {r}, g FROM generate_series(1, {N_DRAIN}) g")
            recorder = None
            if perf and pid:
                recorder = subprocess.Popen(["perf", "record", "-g", "-F", "2999", "-o", perf,
                                             "-p", str(pid)], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                time.sleep(1.0)
            try:
                sched0 = proc_sched(pid)
                t0 = float(s.query("SELECT extract(epoch FROM clock_timestamp()); COMMIT")[0][0])
                seen = w7_wait(s, r, STEP_TIMEOUT_S, f"drain at max_concurrency {conc}")
                sched1 = proc_sched(pid)
            finally:
                if recorder:
                    recorder.send_signal(signal.SIGINT)
                    recorder.wait(timeout=60)
            last = w7_check(s, r, N_DRAIN)
            live = stub_keys()
            if live != N_DRAIN + 1:
                raise RuntimeError(f"the stub holds {live} keys, expected {N_DRAIN + 1}")
            w7_clear(s)
        ms = (last - t0) * 1000
        cpu = wait = None
        if sched0 and sched1 and seen > t0:
            cpu = 100 * (sched1[0] - sched0[0]) / ((seen - t0) * 1000)
            wait = 100 * (sched1[1] - sched0[1]) / ((seen - t0) * 1000)
        out = {f"w7/rk_{conc}": (ms / 1000, cpu, wait)}
        if conc == 16:
            out["w7/rk_16_seen"] = ((seen - t0), cpu, wait)
            out["w7/enqueue"] = (t0 - t_ins) * 1000
        return out
    return run


def w7_rawc():
    stub_reset(LATENCY_MS)
    value = scaled(rawc("create", N_DRAIN, 16, "w7-rawc-", expect=N_DRAIN), 1e-3)
    live = stub_keys()
    if live != N_DRAIN:
        raise RuntimeError(f"the stub holds {live} keys, expected {N_DRAIN}")
    return value


def w7_spaced(latency):
    """W7b: N_SPACED single-row autocommit INSERTs, SPACING_S apart; done_at - enqueued_at."""
    def run():
        stub_reset()
        admin("POST", "/__admin/config", {"latency_ms": latency})
        with Session() as s:
            w7_clear(s)
            w7_concurrency(s, 16)
            w7_warm(s)
            r = next(W7_RUNS)
            start = time.monotonic()
            late = 0
            for i in range(1, N_SPACED + 1):
                delay = start + (i - 1) * SPACING_S - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    late += 1
                s.query(f"INSERT INTO bench.w7_tenants (run, id) VALUES ({r}, {i})")
            w7_wait(s, r, 60, f"commit-to-key at +{latency} ms")
            w7_check(s, r, N_SPACED)
            ms = sorted(float(v[0]) for v in s.query(
                "SELECT extract(epoch FROM done_at - enqueued_at) * 1000 FROM routerkeys.outbox "
                f"WHERE server = {lit(W7_SERVER)} AND key_name LIKE 'w7-{r}-%'"))
            # intents still open when the next one was committed: the server was not idle
            busy = int(s.query(
                "SELECT count(*) FROM routerkeys.outbox a JOIN routerkeys.outbox b "
                "ON b.server = a.server AND b.id = a.id + 1 "
                f"WHERE a.server = {lit(W7_SERVER)} AND a.key_name LIKE 'w7-{r}-%' "
                f"AND b.key_name LIKE 'w7-{r}-%' AND a.done_at > b.enqueued_at")[0][0])
            w7_clear(s)
        if late > N_SPACED // 10 or busy:
            W7_NOTES.append(f"W7b +{latency} ms: {late} INSERTs were sent late, {busy} intents "
                            "were still open when the next was committed")
        return {f"w7b/p50_{latency}": statistics.median(ms),
                f"w7b/p99_{latency}": statistics.quantiles(ms, n=100, method="inclusive")[98]}
    return run


def w7_idle():
    """W7c: the worker with an empty outbox, over IDLE_S: its CPU time and context switches
    (/proc), its scans of routerkeys.intent (pg_stat_all_tables) and the database's
    transactions (pg_stat_database) less the one read this session makes in the window.
    Autovacuum is off meanwhile (a visit of its worker would be counted too), and
    routerkeys.worker_idle_timeout, after which an idle worker exits, outlasts the window."""
    if not 1 <= IDLE_S <= 600:
        raise RuntimeError(f"RK_BENCH_IDLE_S={IDLE_S:g}: expected 1 to 600")
    stub_reset()
    counters = ("SELECT pg_stat_force_next_flush(), d.xact_commit + d.xact_rollback, "
                "(SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_all_tables "
                " WHERE relid = 'routerkeys.intent'::regclass), "
                "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                " AND pid <> pg_backend_pid() AND backend_type <> 'routerkeys worker') "
                "FROM pg_stat_database d WHERE d.datname = current_database()")
    with Session() as s:
        w7_clear(s)
        w7_concurrency(s, 16)
        w7_warm(s)          # the worker runs
        w7_clear(s)         # and the outbox is empty
        pid = worker_pid(s)
        if pid is None:
            w7_fail(s, "no routerkeys worker runs after the warm-up")
        idle_guc = s.query("SELECT setting FROM pg_settings "
                           "WHERE name = 'routerkeys.worker_idle_timeout'")
        need_ms = int((IDLE_S + 60) * 1000)
        raise_idle = bool(idle_guc) and 0 < int(idle_guc[0][0]) < need_ms
        if raise_idle:
            s.query(f"ALTER SYSTEM SET routerkeys.worker_idle_timeout = {need_ms}")
            W7_NOTES.append(f"W7c: routerkeys.worker_idle_timeout was {idle_guc[0][0]} ms, "
                            f"{need_ms} ms during the window")
        s.query("ALTER SYSTEM SET autovacuum = off")
        try:
            s.query("SELECT pg_reload_conf()")
            s.query("SELECT pg_stat_force_next_flush()")
            time.sleep(2.0)     # the reload's wake-up is over, closed sessions have flushed
            _, x0, scans0, others0 = s.query(counters)[0]
            cpu0, sw0 = proc_counters(pid)
            sched0 = proc_sched(pid)
            req0 = admin("GET", "/__admin/state")["requests"]
            time.sleep(IDLE_S)
            try:
                cpu1, sw1 = proc_counters(pid)
                sched1 = proc_sched(pid)
            except OSError:
                w7_fail(s, f"the routerkeys worker (pid {pid}) exited during the idle window")
            req1 = admin("GET", "/__admin/state")["requests"]
            _, x1, scans1, others1 = s.query(counters)[0]
            if worker_pid(s) != pid:
                w7_fail(s, f"the routerkeys worker (pid {pid}) exited during the idle window")
        finally:
            s.query("ALTER SYSTEM RESET autovacuum")
            if raise_idle:
                s.query("ALTER SYSTEM RESET routerkeys.worker_idle_timeout")
            s.query("SELECT pg_reload_conf()")
    xacts = int(x1) - int(x0) - 1       # the read that took x0 is counted in x1
    if int(others0) or int(others1):
        W7_NOTES.append(f"W7c: {others0} and {others1} other sessions were connected to the "
                        "database at the start and end of the window (their transactions "
                        "are in the count)")
    on_cpu = "?" if not (sched0 and sched1) else f"{(sched1[0] - sched0[0]) * 1000:.0f}"
    W7_NOTES.append(f"W7c: worker pid {pid} ran the whole window, {on_cpu} us on a CPU by "
                    f"/proc/<pid>/schedstat; the stub saw {int(req1) - int(req0)} requests "
                    "meanwhile")
    return {"w7c/cpu": cpu1 - cpu0, "w7c/wakeups": sw1 - sw0,
            "w7c/scans": int(scans1) - int(scans0), "w7c/xacts": xacts}


def w7(rnd):
    saved = admin("GET", "/__admin/config").get("latency_ms", 0)
    try:
        with Session() as s:
            w7_teardown(s)      # what an interrupted run may have left
            w7_setup(s)
        drains = [("w7/rawc_16", w7_rawc)] + [(f"w7/rk_{c}", w7_drain(c)) for c in DRAIN_CONC]
        for key, fn in rotate(drains, rnd):
            record(key, fn)
        spaced = [(f"w7b/p50_{lat}", w7_spaced(lat)) for lat in SPACED_LATENCY_MS]
        for key, fn in rotate(spaced, rnd):
            record(key, fn)
        record("w7c/xacts", w7_idle)
    finally:
        with Session() as s:
            w7_teardown(s)
        stub_reset()
        admin("POST", "/__admin/config", {"latency_ms": saved})


# W8: latency-bound work.  The stub adds W8_LATENCY_MS to every request (W8b: 0, 10 and 50 ms),
# so each figure is bounded by latency x requests / concurrency; every routerkeys figure stands
# next to raw C doing the best the API allows at the same concurrency.  W8 makes its own
# foreign table (schema bench_w8, on the server bench: page_size 200, batch_size 32) and tenant
# tables, and drops them at the end; the keys it creates it deletes; it puts the stub's latency
# back as it found it.

W8_FT = f"{W8_SCHEMA}.router_keys"
W8_REQ = {}         # row key -> requests of the timed work, each sample (the stub's count)
W8_SHAPE = {}       # row key -> (latency ms, concurrency): floor = ceil(requests / conc) x latency
W8_NOTES = []       # observations printed under the table
W8_PLAN = {}        # latency -> the strategy the planner chose for W8b
W8_SWITCH = {}      # what the planner's costs say: the tenants where it switches, costs
W8_PLANS = os.path.join(OUT, "w8-plans.txt")
W8_RUNS = itertools.count(1)    # the created keys' names are w8-<run>-<n>
W8_TIMEOUT = (f"SET statement_timeout = '{W8_STEP_TIMEOUT_S}s'",)
# W8b forced strategies.  One listing hashed: no nested loop, no merge join.  A GET per
# tenant: written so, a LATERAL subquery (OFFSET 0 keeps it one) whose id = t.key_id is a
# parameter of a GET scan, run once per tenant.  enable_* settings do not give that: without
# hash and merge joins (and material) the planner nests the local tenants under the listing
# instead (10 000 x 1 000 comparisons, W8_NOLIST_GUCS, shown in out/w8-plans.txt), as its
# costs put 1 000 GETs (1 000 x 1 001) above that.
W8_LIST_GUCS = ("SET enable_nestloop = off", "SET enable_mergejoin = off")
W8_NOLIST_GUCS = ("SET enable_hashjoin = off", "SET enable_mergejoin = off",
                  "SET enable_material = off")
W8_TABLES = {n: f"bench.w8_tenants_{n}"
             for n in sorted({N8_TENANTS} | {n for _, n in REPORT_POINTS + REPORT_CHECKS})}


def w8_ids_file(n):
    return os.path.join(OUT, f"w8_ids_{n}.txt")


def stub_latency(ms):
    admin("POST", "/__admin/config", {"latency_ms": ms})


def stub_requests():
    return int(admin("GET", "/__admin/state")["requests"])


def w8_step(key, fn, latency, conc, warm_requests):
    """A W8 measurement; also files the requests of its timed work (the stub's count around
    it, less the untimed warm-up's) and its shape (latency, concurrency) for its floor."""
    W8_SHAPE[key] = (latency, conc)

    def run():
        r0 = stub_requests()
        value = fn()
        W8_REQ.setdefault(key, []).append(stub_requests() - r0 - warm_requests)
        return value
    return run


def w8_teardown(s):
    s.query("SET client_min_messages = warning")
    s.query(f"DROP SCHEMA IF EXISTS {W8_SCHEMA} CASCADE")
    s.query(f"DROP TABLE IF EXISTS {', '.join(W8_TABLES.values())}")
    s.query("RESET client_min_messages")


def w8_setup(s):
    """W8's foreign table and tenants: every (N8_KEYS / N8_TENANTS)th key of the listing is a
    tenant's; the smaller tables take every (N8_TENANTS / n)th of those.  Returns the ids of
    the N8_TENANTS tenants."""
    step = N8_KEYS // N8_TENANTS
    for stmt in (
            f"CREATE SCHEMA {W8_SCHEMA}",
            f"IMPORT FOREIGN SCHEMA router FROM SERVER bench INTO {W8_SCHEMA}",
            f"ALTER FOREIGN TABLE {W8_FT} OPTIONS (ADD batch_size '{W8_BATCH}')",
            f"CREATE TABLE {W8_TABLES[N8_TENANTS]} (id int PRIMARY KEY, key_id text NOT NULL)",
            f"INSERT INTO {W8_TABLES[N8_TENANTS]} SELECT n / {step}, id FROM "
            f"(SELECT row_number() OVER () AS n, id FROM routerkeys.list_keys()) k "
            f"WHERE n % {step} = 0",
            f"ANALYZE {W8_TABLES[N8_TENANTS]}"):
        s.query(stmt)
    for n, table in W8_TABLES.items():
        if n != N8_TENANTS:
            s.query(f"CREATE TABLE {table} AS SELECT * FROM {W8_TABLES[N8_TENANTS]} "
                    f"WHERE id % {N8_TENANTS // n} = 0")
            s.query(f"ALTER TABLE {table} ADD PRIMARY KEY (id)")
            s.query(f"ANALYZE {table}")
    ids = {}
    for n, table in W8_TABLES.items():
        ids[n] = [r[0] for r in s.query(f"SELECT key_id FROM {table} ORDER BY id")]
        if len(ids[n]) != n:
            raise RuntimeError(f"W8 set-up: {len(ids[n])} tenants in {table}, expected {n}")
        with open(w8_ids_file(n), "w") as f:
            f.write("\n".join(ids[n]) + "\n")
    with open(w8_ids_file(N8_ANY), "w") as f:
        f.write("\n".join(ids[N8_TENANTS][:N8_ANY]) + "\n")
    return ids[N8_TENANTS]


def w8_strategy(lines):
    """Which way a W8b plan reaches the keys: a GET per tenant, or one listing hashed."""
    text = "\n".join(lines)
    if "Nested Loop" in text and "GET /v2/api-keys/{id}" in text:
        return "per-row GETs"
    if "Hash Join" in text and "(paged)" in text:
        return "listing + hash"
    return "other"


def w8_explain(s, sql, gucs=(), options="VERBOSE"):
    """EXPLAIN of sql after gucs (reset afterwards): its lines."""
    for g in gucs:
        s.query(g)
    try:
        return [r[0] for r in s.query(f"EXPLAIN ({options}) {sql}")]
    finally:
        if gucs:
            s.query("RESET ALL")
            s.query(f"SET statement_timeout = '{STEP_TIMEOUT_S}s'")


def w8_top_cost(lines):
    m = re.search(r"cost=[\d.]+\.\.([\d.]+)", lines[0]) if lines else None
    return float(m.group(1)) if m else None


def w8b_join(table):
    return (f"SELECT sum(c) FROM (SELECT k.status, count(*) AS c FROM {table} t "
            f"JOIN {W8_FT} k ON k.id = t.key_id GROUP BY k.status) r")


def w8b_lateral(table):
    """The report written as a GET per tenant."""
    return (f"SELECT sum(c) FROM (SELECT k.status, count(*) AS c FROM {table} t "
            f"CROSS JOIN LATERAL (SELECT status FROM {W8_FT} k WHERE k.id = t.key_id "
            f"OFFSET 0) k GROUP BY k.status) r")


def w8b_any(table):
    """The report with the tenants' ids also given as an array: one scan of concurrent GETs."""
    return (f"SELECT sum(c) FROM (SELECT k.status, count(*) AS c FROM {table} t "
            f"JOIN {W8_FT} k ON k.id = t.key_id "
            f"WHERE k.id = ANY(ARRAY(SELECT key_id FROM {table})) GROUP BY k.status) r")


def w8_planner_switch(s):
    """The fewest tenants (the first n of bench.w8_tenants, LIMIT n) for which the planner
    prefers the listing to a GET per tenant, by bisection of EXPLAIN (no request is sent)."""
    def strategy(n):
        sql = (f"SELECT k.status, count(*) FROM (SELECT key_id FROM {W8_TABLES[N8_TENANTS]} "
               f"ORDER BY id LIMIT {n}) t JOIN {W8_FT} k ON k.id = t.key_id GROUP BY k.status")
        return w8_strategy(w8_explain(s, sql, options="COSTS"))
    lo, hi = 1, N8_TENANTS
    first, last = strategy(lo), strategy(hi)
    if first != "per-row GETs" or last != "listing + hash":
        return None, f"{first} at 1 tenant, {last} at {N8_TENANTS}"
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if strategy(mid) == "listing + hash":
            hi = mid
        else:
            lo = mid
    return hi, None


def w8a(rnd):
    """W8a: the whole listing, +20 ms a page: pages are sequential (a cursor)."""
    lat = W8_LATENCY_MS
    stub_latency(lat)
    warm_ft = f"SELECT count(*) FROM {W8_FT} WHERE id = {lit(NO_KEY)}"
    warm_fn = f"SELECT count(*) FROM routerkeys.get_key({lit(NO_KEY)})"
    steps = [
        ("w8a/rawc", lambda: scaled(rawc("list", PAGE, expect=N8_KEYS,
                                         timeout=W8_STEP_TIMEOUT_S), 1), 0),
        ("w8a/rk_ft", lambda: scaled(time_sql(f"SELECT count(*) FROM {W8_FT}", warm_ft,
                                              expect=N8_KEYS, before=W8_TIMEOUT), 1), 1),
        ("w8a/rk_fn", lambda: scaled(time_sql("SELECT count(*) FROM routerkeys.list_keys()",
                                              warm_fn, expect=N8_KEYS, before=W8_TIMEOUT), 1), 1),
    ]
    for rep in range(W8_REPS):
        for key, fn, warm in rotate(steps, rnd + rep):
            record(key, w8_step(key, fn, lat, 1, warm))


def w8b(rnd, plans):
    """W8b: the report at each point (latency, tenants): the planner's plan, then each strategy
    forced; raw C the same ways (and, at the main points, 16 GETs at once)."""
    for lat, n in sorted(REPORT_POINTS + REPORT_CHECKS):
        stub_latency(lat)
        p = f"{lat}_{n}"
        table = W8_TABLES[n]
        ids_file = w8_ids_file(n)
        sql, sql_row = w8b_join(table), w8b_lateral(table)
        # a session that has talked to the service: the planner knows its latency
        warm = (f"DO $w$ BEGIN FOR i IN 1 .. {W8_WARM_N} LOOP PERFORM count(*) FROM {W8_FT} "
                f"WHERE id = {lit(NO_KEY)}; END LOOP; END $w$")
        with Session() as s:
            s.query(warm)
            if plans and lat not in W8_SWITCH.setdefault("tenants", {}):
                switch, why = W8_SWITCH["tenants"][lat] = w8_planner_switch(s)
                plans.write(f"---- at +{lat} ms the planner switches from per-row GETs to the "
                            f"listing at {switch or why} tenants (EXPLAIN of LIMIT n tenants, "
                            f"after {W8_WARM_N} requests at this latency)\n\n")
            chosen = w8_explain(s, sql)
            per_row = w8_explain(s, sql_row)
            listing = w8_explain(s, sql, W8_LIST_GUCS)
            nolist = w8_explain(s, sql, W8_NOLIST_GUCS) if plans else []
            many = w8_explain(s, w8b_any(table)) if plans else []
        strategy = w8_strategy(chosen)
        if w8_strategy(per_row) != "per-row GETs" or w8_strategy(listing) != "listing + hash":
            raise RuntimeError(f"W8b: forcing did not give the strategies: "
                               f"{w8_strategy(per_row)}, {w8_strategy(listing)}")
        W8_PLAN[(lat, n)] = strategy
        W8_SWITCH.setdefault("costs", {})[(lat, n)] = (
            w8_top_cost(chosen), w8_top_cost(per_row), w8_top_cost(listing))
        plan_row = ROWS[f"w8b/rk_plan_{p}"]
        plan_row.client = f"routerkeys as planned: {strategy}"
        plan_row.ref = (f"w8b/rawc_row_{p}" if strategy == "per-row GETs"
                        else f"w8b/rawc_list_{p}")
        if plans:
            plans.write(f"---- W8b at +{lat} ms, {n} tenants ({table})\n-- {sql}\n"
                        f"-- as planned (no settings): {strategy}\n" + "\n".join(chosen) +
                        f"\n\n-- per-row GETs, forced by writing it so:\n-- {sql_row}\n" +
                        "\n".join(per_row) +
                        f"\n\n-- listing + hash, forced: {'; '.join(W8_LIST_GUCS)}\n" +
                        "\n".join(listing) +
                        f"\n\n-- without hash joins: {'; '.join(W8_NOLIST_GUCS)}: "
                        f"{w8_strategy(nolist)}\n" + "\n".join(nolist) +
                        (f"\n\n-- the ids as an array too (concurrent GETs):\n"
                         f"-- {w8b_any(table)}\n" + "\n".join(many)
                         if (lat, n) in REPORT_POINTS else "") + "\n\n")

        def sql_step(work, gucs=(), n=n):
            return lambda: scaled(time_sql(work, warm, expect=n,
                                           before=W8_TIMEOUT + tuple(gucs)), 1)

        def rawc_step(*args, n=n):
            return lambda: scaled(rawc(*args, expect=n, timeout=W8_STEP_TIMEOUT_S), 1)

        steps = [
            (f"w8b/rawc_row_{p}", rawc_step("getids", ids_file, 1), 1, 1),
            (f"w8b/rk_row_{p}", sql_step(sql_row), 1, W8_WARM_N),
            (f"w8b/rawc_list_{p}", rawc_step("report", ids_file), 1, 0),
            (f"w8b/rk_list_{p}", sql_step(sql, W8_LIST_GUCS), 1, W8_WARM_N),
            (f"w8b/rk_plan_{p}", sql_step(sql), 1, W8_WARM_N),
        ]
        if lat == 0:
            # per-row with jit off too: the LATERAL form's costs may pass the JIT thresholds
            # (jit_above_cost 100 000; inlining and optimization from 500 000)
            steps.append((f"w8b/rk_rownj_{p}", sql_step(sql_row, ("SET jit = off",)), 1,
                          W8_WARM_N))
        if (lat, n) in REPORT_POINTS:
            steps += [
                (f"w8b/rawc_c{W8_CONC}_{p}", rawc_step("getids", ids_file, W8_CONC),
                 W8_CONC, W8_CONC),
                # warm: the same statement, which opens the connections it needs
                (f"w8b/rk_any_{p}", lambda sql=w8b_any(table), n=n: scaled(time_sql(
                    sql, sql, expect=n, before=W8_TIMEOUT), 1), W8_CONC, n)]
        for rep in range(W8_REPS_B0 if lat == 0 else 1):
            for key, fn, conc, warm_requests in rotate(steps, rnd + rep):
                record(key, w8_step(key, fn, lat, conc, warm_requests))


def w8c(rnd, ids, plans):
    """W8c: id = ANY(16 ids) through the foreign table, and get_key() one at a time."""
    lat = W8_LATENCY_MS
    stub_latency(lat)
    arr = "ARRAY[" + ", ".join(lit(i) for i in ids[:N8_ANY]) + "]"
    any_sql = f"SELECT count(*) FROM {W8_FT} WHERE id = ANY({arr})"
    loop_sql = (f"SELECT count(*) FROM unnest({arr}) AS i(id), "
                "LATERAL routerkeys.get_key(i.id) k")
    warm_fn = f"SELECT count(*) FROM routerkeys.get_key({lit(NO_KEY)})"
    f16 = w8_ids_file(N8_ANY)
    if plans:
        with Session() as s:
            s.query(any_sql)        # warm: the connections open
            plans.write(f"---- W8c at +{lat} ms\n-- {any_sql}\n" +
                        "\n".join(w8_explain(s, any_sql, options="ANALYZE, VERBOSE")) +
                        f"\n\n-- {loop_sql}\n" + "\n".join(w8_explain(s, loop_sql)) + "\n\n")
    steps = [
        (f"w8c/rawc_{N8_ANY}", lambda: scaled(rawc("getids", f16, N8_ANY, expect=N8_ANY,
                                                     timeout=W8_STEP_TIMEOUT_S), 1),
         N8_ANY, N8_ANY),
        # warm: the same statement, which opens the connections it needs
        ("w8c/rk_ft", lambda: scaled(time_sql(any_sql, any_sql, expect=N8_ANY,
                                              before=W8_TIMEOUT), 1), N8_ANY, N8_ANY),
        ("w8c/rawc_1", lambda: scaled(rawc("getids", f16, 1, expect=N8_ANY,
                                           timeout=W8_STEP_TIMEOUT_S), 1), 1, 1),
        ("w8c/rk_get", lambda: scaled(time_sql(loop_sql, warm_fn, expect=N8_ANY,
                                               before=W8_TIMEOUT), 1), 1, 1),
    ]
    for rep in range(W8_REPS):
        for key, fn, conc, warm_requests in rotate(steps, rnd + rep):
            record(key, w8_step(key, fn, lat, conc, warm_requests))


def w8d(rnd, plans):
    """W8d: 200 creates through the foreign table (INSERT ... SELECT, batch_size 32), and raw
    C with 32 in flight; the keys are deleted afterwards."""
    lat = W8_LATENCY_MS
    stub_latency(lat)
    warm = f"SELECT count(*) FROM {W8_FT} WHERE id = {lit(NO_KEY)}"

    def insert_sql(prefix):
        return (f"INSERT INTO {W8_FT} (name) SELECT {lit(prefix)} || g "
                f"FROM generate_series(1, {N8_CREATE}) g")

    def checked(fn):
        def run():
            before = stub_keys()
            value = fn(f"w8-{next(W8_RUNS)}-")
            made = stub_keys() - before
            if made != N8_CREATE:
                raise RuntimeError(f"the stub holds {made} more keys, expected {N8_CREATE}")
            return value
        return run

    if plans:
        with Session() as s:
            plans.write(f"---- W8d at +{lat} ms\n-- {insert_sql('w8-N-')}\n" +
                        "\n".join(w8_explain(s, insert_sql("w8-N-"))) + "\n\n")
    steps = [
        (f"w8d/rawc_{W8_BATCH}", checked(lambda p: scaled(rawc(
            "create", N8_CREATE, W8_BATCH, p, expect=N8_CREATE, timeout=W8_STEP_TIMEOUT_S), 1)), 0),
        (f"w8d/rk_ft_{W8_BATCH}", checked(lambda p: scaled(time_sql(
            insert_sql(p), warm, expect=N8_CREATE, before=W8_TIMEOUT), 1)), 1),
    ]
    try:
        for rep in range(W8_REPS):
            for key, fn, warm_requests in rotate(steps, rnd + rep):
                record(key, w8_step(key, fn, lat, W8_BATCH, warm_requests))
    finally:
        w8_delete_created()


def w8_delete_created():
    """Deletes the keys W8d created (through the foreign table, at no added latency)."""
    stub_latency(0)
    with Session() as s:
        s.query(f"DELETE FROM {W8_FT} WHERE name LIKE 'w8-%'")
    left = stub_keys()
    if left != N8_KEYS:
        raise RuntimeError(f"after deleting W8d's keys the stub holds {left}, expected {N8_KEYS}")


def w8(rnd):
    saved = admin("GET", "/__admin/config").get("latency_ms", 0)
    load0 = loadavg()
    t0 = time.monotonic()
    plans = open(W8_PLANS, "w") if rnd == 0 else None
    try:
        stub_reset()
        stub_seed(N8_KEYS)
        with Session() as s:
            w8_teardown(s)      # what an interrupted run may have left
            ids = w8_setup(s)
            if plans:
                for stmt in (f"SELECT count(*) FROM {W8_FT}",
                             "SELECT count(*) FROM routerkeys.list_keys()"):
                    plans.write(f"---- W8a\n-- {stmt}\n" + "\n".join(w8_explain(s, stmt)) +
                                "\n\n")
                # what each strategy does, measured, at no added latency
                table, few = W8_TABLES[N8_TENANTS], min(W8_TABLES)
                for what, sql, gucs in (
                        (f"{N8_TENANTS} tenants, per-row GETs forced (LATERAL)",
                         w8b_lateral(table), ()),
                        (f"{N8_TENANTS} tenants, listing + hash forced", w8b_join(table),
                         W8_LIST_GUCS),
                        (f"{N8_TENANTS} tenants, no hash join (enable_* only)", w8b_join(table),
                         W8_NOLIST_GUCS),
                        (f"{few} tenants, as planned (its parameterized path)",
                         w8b_join(W8_TABLES[few]), ())):
                    plans.write(f"---- W8b +0 ms, {what} "
                                f"({'; '.join(gucs) or 'no settings'}), EXPLAIN ANALYZE\n"
                                f"-- {sql}\n" +
                                "\n".join(w8_explain(s, sql, gucs, "ANALYZE, VERBOSE")) +
                                "\n\n")
        w8a(rnd)
        w8c(rnd, ids, plans)
        w8d(rnd, plans)
        w8b(rnd, plans)
    finally:
        if plans:
            plans.close()
        try:
            with Session() as s:
                w8_teardown(s)
        finally:
            stub_reset()
            stub_latency(saved)
            W8_NOTES.append(f"W8 round {rnd + 1}: {time.monotonic() - t0:.0f} s, load average "
                            f"{load0} at its start, {loadavg()} at its end")


ALL_WORKLOADS = [("W1", w1), ("W2", w2), ("W3", w3), ("W4", w4), ("W5", w5), ("W6", w6),
                 ("W7", w7), ("W8", w8)]
# W7 (~2 min a round) and W8 (~1.5 min): run only when RK_BENCH_WORKLOADS names them (or "all")
OPT_IN = ("W7", "W8")
_wanted = os.environ.get("RK_BENCH_WORKLOADS", "")
if _wanted == "all":
    WORKLOADS = ALL_WORKLOADS
elif _wanted:
    WORKLOADS = [w for w in ALL_WORKLOADS if w[0] in _wanted.split(",")]
else:
    WORKLOADS = [w for w in ALL_WORKLOADS if w[0] not in OPT_IN]


# --- stub capacity, plans, profile ------------------------------------------------------------

def wrk(url, conns, threads, secs):
    p = subprocess.run(["wrk", f"-c{conns}", f"-t{threads}", f"-d{secs}s",
                        "-H", "Authorization: Bearer rk-test-provisioning-valid", url],
                       capture_output=True, text=True, timeout=secs + 30)
    m = re.search(r"Requests/sec:\s*([\d.]+)", p.stdout)
    if p.returncode != 0 or not m or "Non-2xx" in p.stdout:
        raise RuntimeError(f"wrk: {(p.stdout + p.stderr).strip()[-300:]}")
    return float(m.group(1))


def capacity():
    if not HAVE["wrk"]:
        return
    stub_reset()
    key_id = stub_seed(N_LIST)
    log("stub capacity with wrk")
    record("cap/get4", lambda: wrk(f"{STUB}/v2/api-keys/{key_id}", 4, 2, 5))
    record("cap/get1", lambda: 1e6 / wrk(f"{STUB}/v2/api-keys/{key_id}", 1, 1, 3))
    record("cap/list1", lambda: 1e3 / wrk(f"{STUB}/v2/api-keys?source=router&limit={PAGE}",
                                          1, 1, 3))
    if NGINX is not None:
        log("nginx capacity with wrk")
        nginx_publish([key_id], "first")
        record("cap/ngx_get1", against_nginx("cap/ngx_get1", lambda: 1e6 / wrk(
            f"{NGINX.url}/v2/api-keys/{key_id}", 1, 1, 3)))
        record("cap/ngx_list1", against_nginx("cap/ngx_list1", lambda: 1e3 / wrk(
            f"{NGINX.url}/v2/api-keys?source=router&limit={PAGE}", 1, 1, 3)))


def plans():
    """EXPLAIN of the measured SQL, for readers (out/plans.txt), on 10 000 keys."""
    stub_reset()
    key_id = stub_seed(N_REPORT)
    stmts = [
        f"SELECT count(*) FROM generate_series(1, {N_GET}) g, "
        f"LATERAL routerkeys.get_key({lit(key_id)} || left(g::text, 0))",
        f"SELECT status FROM router_keys WHERE id = {lit(key_id)}",
        "SELECT count(*) FROM routerkeys.keys",
        "SELECT count(*) FROM router_keys",
        f"INSERT INTO bench.tenants (id, name) SELECT g, 'w3-' || g "
        f"FROM generate_series(1, {N_CREATE}) g",
        f"INSERT INTO router_keys (name) SELECT 'w3-' || g FROM generate_series(1, {N_CREATE}) g",
        "SELECT k.status, count(*) FROM bench.report_tenants t "
        "JOIN routerkeys.keys k ON k.id = t.key_id GROUP BY k.status",
        "SELECT k.status, count(*) FROM bench.report_tenants t "
        "JOIN router_keys k ON k.id = t.key_id GROUP BY k.status",
    ]
    with Session() as s, open(os.path.join(OUT, "plans.txt"), "w") as f:
        report_tenants(s)
        for stmt in stmts:
            f.write(f"-- {stmt}\n")
            f.write("\n".join(r[0] for r in s.query(f"EXPLAIN (VERBOSE) {stmt}")) + "\n\n")
        s.query("TRUNCATE bench.report_tenants")


def profile():
    """perf record of the routerkeys backend during W1 and W2 (RK_BENCH_PERF=1)."""
    if shutil.which("perf") is None:
        log("profile: perf is not installed")
        return
    stub_reset()
    key_id = stub_seed(N_LIST)
    one = f"SELECT count(*) FROM routerkeys.get_key({lit(key_id)})"
    runs = [
        ("w1", f"SELECT count(*) FROM generate_series(1, {4 * N_GET}) g, "
               f"LATERAL routerkeys.get_key({lit(key_id)} || left(g::text, 0))", one),
        ("w2-view", "SELECT count(*) FROM routerkeys.keys", one),
        ("w2-ft", "SELECT count(*) FROM router_keys",
         f"SELECT count(*) FROM router_keys WHERE id = {lit(key_id)}"),
    ]
    for name, work, warm in runs:
        data = os.path.join(OUT, f"perf-{name}.data")
        for stale in (data, data + ".old"):
            if os.path.exists(stale):
                os.remove(stale)
        time_sql(work, warm, perf=data)
        with open(os.path.join(OUT, f"perf-{name}.txt"), "w") as f:
            for args in (["--no-children", "--sort", "dso"],
                         ["--no-children", "--sort", "dso,symbol"],
                         ["--children", "--sort", "symbol"]):
                p = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none",
                                    "--percent-limit", "0.7", *args],
                                   capture_output=True, text=True, timeout=120)
                f.write(p.stdout)
        log(f"profile: out/perf-{name}.txt")
    if any(w == "W7" for w, _ in WORKLOADS):
        w7_profile()


def w7_profile():
    """perf record of the routerkeys worker during a W7 drain at max_concurrency 16."""
    data = os.path.join(OUT, "perf-w7-worker.data")
    for stale in (data, data + ".old"):
        if os.path.exists(stale):
            os.remove(stale)
    saved = admin("GET", "/__admin/config").get("latency_ms", 0)
    try:
        with Session() as s:
            w7_teardown(s)
            w7_setup(s)
        w7_drain(16, perf=data)()
    finally:
        with Session() as s:
            w7_teardown(s)
        stub_reset()
        admin("POST", "/__admin/config", {"latency_ms": saved})
    with open(os.path.join(OUT, "perf-w7-worker.txt"), "w") as f:
        for args in (["--no-children", "--sort", "dso"],
                     ["--no-children", "--sort", "dso,symbol"],
                     ["--children", "--sort", "symbol"]):
            p = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none",
                                "--percent-limit", "0.7", *args],
                               capture_output=True, text=True, timeout=120)
            f.write(p.stdout)
    log("profile: out/perf-w7-worker.txt")


# --- the table ------------------------------------------------------------------------------

def med(key):
    r = ROWS.get(key)
    return r.median() if r else None


def ratio(a, b):
    a, b = med(a), med(b)
    return a / b if a is not None and b else None


def fmt_x(x):
    return "-" if x is None else f"{x:.2f}x"


def judge(checks):
    if any(ok is None for ok in checks):
        return "n/a"
    return "pass" if all(checks) else "MISS"


def at_most(x, limit):
    return None if x is None else x <= limit


def at_least(x, limit):
    return None if x is None else x >= limit


def targets():
    """row key -> (target, observed, result) for the rows that carry a target."""
    t = {}
    for k in ("w1/rk_get", "w1/rk_ft"):
        vs_c, vs_py = ratio(k, "w1/rawc"), ratio("w1/py", k)
        t[k] = ("<=1.3x raw C, >=3x faster than PL/Py",
                f"{fmt_x(vs_c)}; PL/Py {fmt_x(vs_py)} slower",
                judge([at_most(vs_c, 1.3), at_least(vs_py, 3)]))
    for k in ("w2/rk_view", "w2/rk_fn", "w2/rk_ft"):
        vs_c = ratio(k, "w2/rawc")
        t[k] = ("<=1.3x raw C", fmt_x(vs_c), judge([at_most(vs_c, 1.3)]))
    for k in ("w2m/rk_view", "w2m/rk_fn", "w2m/rk_ft"):
        m = med(k)
        t[k] = ("< 32 MB", "-" if m is None else f"{m:.1f} MB",
                judge([None if m is None else m < 32]))
    for c in (16, 32):
        k = f"w3/rk_ft_{c}"
        speedup = ratio("w3/rk_trig", k)
        t[k] = (">=15x faster than one at a time", f"{fmt_x(speedup)} faster",
                judge([at_least(speedup, 15)]))
    for k, base in (("w4/rk_view", "w4l/rk_view"), ("w4/rk_ft", "w4l/rk_ft")):
        r = ratio(k, base)
        t[k] = ("<=1.5x its list of 10 000", f"{fmt_x(r)} its list", judge([at_most(r, 1.5)]))
    for k in ("w4n/rawc", "w4n/rk_view", "w4n/rk_ft"):     # references: no targets
        r = ratio(k, k.replace("w4n/", "w4ln/"))
        t[k] = ("", "" if r is None else f"{fmt_x(r)} its list", "")
    # W7: what bounds each figure is the stub's latency, N_DRAIN / concurrency requests in a row
    floors = {"w7/rawc_16": 16, "w7/rk_16": 16, "w7/rk_16_seen": 16, "w7/rk_1": 1}
    for k, conc in floors.items():
        floor = N_DRAIN * LATENCY_MS / 1000 / conc
        m = med(k)
        t[k] = ("", f"{fmt_x(None if m is None else m / floor)} the floor {floor:g} s", "")
    speedup, vs_c = ratio("w7/rk_1", "w7/rk_16"), ratio("w7/rk_16", "w7/rawc_16")
    t["w7/rk_16"] = (">=15x faster than one at a time, <=1.3x raw C",
                     f"{fmt_x(speedup)} faster; {fmt_x(vs_c)} raw C; " + t["w7/rk_16"][1],
                     judge([at_least(speedup, 15), at_most(vs_c, 1.3)]))
    for lat in SPACED_LATENCY_MS:
        for q in ("p50", "p99"):
            m = med(f"w7b/{q}_{lat}")
            t[f"w7b/{q}_{lat}"] = ("", "-" if m is None else
                                   f"floor {lat} ms + {m - lat:.1f} ms", "")
    for k in ROWS:
        if k.startswith("w8"):
            t[k] = w8_target(k)
    x, scans, wake = med("w7c/xacts"), med("w7c/scans"), med("w7c/wakeups")
    t["w7c/xacts"] = ("0 queries", "-" if x is None else
                      f"{x:.0f} xacts, {scans:.0f} outbox reads, {wake:.0f} wake-ups",
                      judge([None if x is None else x == 0,
                             None if scans is None else scans == 0]))
    return t


def w8_bound(key):
    """What bounds a W8 figure: "<requests> req x <latency> ms / <concurrency> = <floor> ms
    floor, <median over it>x", and the concurrency it reached (requests x latency / median)."""
    m, reqs = med(key), W8_REQ.get(key)
    if m is None or not reqs or key not in W8_SHAPE:
        return ""
    req = statistics.median(reqs)
    lat, conc = W8_SHAPE[key]
    if lat == 0:
        return f"{req:.0f} req, no latency added"
    floor = math.ceil(req / conc) * lat
    return (f"{req:.0f} req x {lat} ms / {conc} = {floor:g} ms floor, {m / floor:.2f}x; "
            f"reached {req * lat / m:.1f} at once")


def w8_faster(lat, n):
    """The faster W8b strategy at a point (routerkeys, measured), or None."""
    row, lst = med(f"w8b/rk_row_{lat}_{n}"), med(f"w8b/rk_list_{lat}_{n}")
    if row is None or lst is None:
        return None
    return "per-row GETs" if row < lst else "listing + hash"


def w8_target(k):
    """(target, observed, result) of a W8 row."""
    b = w8_bound(k)
    if k.startswith("w8b/rk_plan_"):
        lat, n = map(int, k[len("w8b/rk_plan_"):].split("_"))
        chosen, faster = W8_PLAN.get((lat, n)), w8_faster(lat, n)
        vs = ratio(k, ROWS[k].ref) if ROWS[k].ref else None
        return ("the faster strategy",
                f"faster: {faster or '-'}; {fmt_x(vs)} raw C; {b}",
                judge([None if chosen is None or faster is None else chosen == faster]))
    if ROWS[k].ref and ROWS[k].who == "routerkeys":
        vs = ratio(k, ROWS[k].ref)
        return ("<=1.1x raw C", f"{fmt_x(vs)}; {b}", judge([at_most(vs, 1.1)]))
    return ("", b, "")


def w8_summary():
    """W8b's crossover, measured and as the planner costs it, as lines under the table."""
    lines = []
    for (lat, n), (c_plan, c_row, c_list) in sorted(W8_SWITCH.get("costs", {}).items()):
        lines.append(f"W8b planner's costs at +{lat} ms, {n} tenants: as planned {c_plan:,.0f}, "
                     f"per-row GETs (LATERAL) {c_row:,.0f}, listing + hash {c_list:,.0f} "
                     "(a request: 100 a ms of its measured time to the first byte, plus 2; "
                     "a key: 0.5)")
    for lat, (switch, why) in sorted(W8_SWITCH.get("tenants", {}).items()):
        lines.append(f"W8b at +{lat} ms the planner switches from per-row GETs to the listing "
                     f"at {switch or why} tenants (EXPLAIN, LIMIT n, "
                     f"after {W8_WARM_N} requests)")
    pts = {}
    for lat, n in sorted(REPORT_POINTS + REPORT_CHECKS):
        p = f"{lat}_{n}"
        row, lst = med(f"w8b/rk_row_{p}"), med(f"w8b/rk_list_{p}")
        crow, clst = med(f"w8b/rawc_row_{p}"), med(f"w8b/rawc_list_{p}")
        plan = med(f"w8b/rk_plan_{p}")
        if row is None or lst is None:
            continue
        per = row / n
        pts[(lat, n)] = (per, lst)
        text = (f"W8b +{lat} ms, {n} tenants: per-row {row:.0f} ms ({per:.3g} ms a tenant), "
                f"listing {lst:.0f} ms: the same at {lst / per:.0f} tenants")
        nojit = med(f"w8b/rk_rownj_{p}")
        if nojit:
            text += (f" (per-row with jit off: {nojit:.0f} ms, the same at "
                     f"{lst / (nojit / n):.0f})")
        if crow and clst:
            text += f" (raw C: {clst / (crow / n):.0f})"
        text += (f"; the planner chose {W8_PLAN.get((lat, n), '-')}"
                 + (f" ({plan:.0f} ms)" if plan is not None else "") +
                 f", the faster is {w8_faster(lat, n)}")
        if n < N8_TENANTS and (lat, n) in REPORT_POINTS:
            text += (f"; at {N8_TENANTS} tenants per-row would take {per * N8_TENANTS:.0f} ms "
                     f"(extrapolated) against the listing's {lst:.0f}")
        cmul, many = med(f"w8b/rawc_c{W8_CONC}_{p}"), med(f"w8b/rk_any_{p}")
        if many:
            text += f"; with the ids as an array too ({W8_CONC} GETs at once): {many:.0f} ms"
        if cmul:
            text += f" (raw C: {cmul:.0f})"
        lines.append(text)
    if (0, N8_TENANTS) in pts and (10, N8_TENANTS) in pts:
        # both are about linear in the latency: a + b x latency
        (r0, l0), (r10, l10) = pts[(0, N8_TENANTS)], pts[(10, N8_TENANTS)]
        a_r, b_r = r0 * N8_TENANTS, (r10 - r0) * N8_TENANTS / 10
        a_l, b_l = l0, (l10 - l0) / 10
        if b_r != b_l:
            cross = (a_l - a_r) / (b_r - b_l)
            lines.append(f"W8b at {N8_TENANTS} tenants, linear between +0 and +10 ms: per-row "
                         f"{a_r:.0f} ms + {b_r:.0f} ms per ms of latency, listing {a_l:.0f} + "
                         f"{b_l:.0f}: " +
                         ("the listing is faster at any latency" if cross < 0 else
                          f"equal at {cross:.2f} ms of latency"))
    return lines


def fmt_v(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}".replace(",", " ")
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


# What bounds a figure of W1, W2, W4: the server's time for the requests of one call (wrk -c1's
# time per request, times the requests a call makes), against the client process's CPU time
# for one call (the backend's for routerkeys, rawc's own), both in the row's unit.
# Row key prefix -> (the server's capacity row, requests a call makes, capacity unit to row's).
BOUND_SPEC = {
    "w1": ("cap/get1", 1, 1), "w1n": ("cap/ngx_get1", 1, 1),
    "w2": ("cap/list1", N_LIST // PAGE + 1, 1e-3), "w2n": ("cap/ngx_list1", N_LIST // PAGE + 1, 1e-3),
    "w4": ("cap/list1", N_REPORT // PAGE + 1, 1), "w4l": ("cap/list1", N_REPORT // PAGE + 1, 1),
    "w4n": ("cap/ngx_list1", N_REPORT // PAGE + 1, 1),
    "w4ln": ("cap/ngx_list1", N_REPORT // PAGE + 1, 1),
}


def bound(key):
    """(server per call by wrk, server CPU per call, client CPU per call, text) for a row of
    W1, W2 or W4."""
    spec = BOUND_SPEC.get(key.split("/")[0])
    m = med(key)
    if spec is None or m is None:
        return None, None, None, ""
    cap, requests, unit = spec
    srv = None if med(cap) is None else med(cap) * requests * unit
    busy = statistics.median(SERVER_CPU[key]) if SERVER_CPU.get(key) else None
    cpu = ROWS[key].cpu_abs_median()

    def show(name, v):
        return f"{name} -" if v is None else f"{name} {fmt_v(v)} {100 * v / m:.0f}%"

    text = f"{show('srv', srv)} {show('busy', busy)} | {show('cpu', cpu)}"
    # what the server took of the call: its CPU time meanwhile, else wrk's time per request
    server = busy if busy is not None else srv
    if server is not None and cpu is not None:
        text += ": server" if server >= cpu else ": client"
    return srv, busy, cpu, text


def build_table():
    tg = targets()
    records = []
    shown_vs = {}
    ran = {name[1] for name, _ in WORKLOADS}
    for r in ROWS.values():
        if not r.key.startswith("cap/") and r.key[1] not in ran:
            continue            # a workload RK_BENCH_WORKLOADS left out
        if r.nginx and not any(w in NGINX_WORKLOADS for w, _ in WORKLOADS):
            continue            # no workload with rows against nginx ran
        m, cpu, wait = r.median(), r.cpu_median(), r.wait_median()
        vs = ratio(r.key, r.ref) if r.ref else None
        target, observed, result = tg.get(r.key, ("", "", ""))
        if r.who in SKIPPED or (r.nginx and NGINX is None):
            result = "skipped"
        elif r.error and not r.samples:
            result = "error"
        shown_vs[r.key] = vs
        srv, busy, cpu_call, bound_text = bound(r.key)
        records.append({
            "key": r.key, "workload": r.workload, "client": r.client,
            "median": "" if m is None else f"{m:.6g}", "unit": r.unit, "n": len(r.samples),
            "ratio_vs_raw_c": "" if vs is None else f"{vs:.3f}",
            "cpu_pct": "" if cpu is None else f"{cpu:.0f}",
            "runqueue_wait_pct": "" if wait is None else f"{wait:.0f}",
            "target": target, "observed": observed, "result": result,
            "samples": " ".join(f"{v:.6g}" for v in r.samples),
            "error": r.error or "",
            "server_per_call": "" if srv is None else f"{srv:.6g}",
            "server_cpu_per_call": "" if busy is None else f"{busy:.6g}",
            "client_cpu_per_call": "" if cpu_call is None else f"{cpu_call:.6g}",
            "bound": bound_text,
        })
    cols = [("workload", 38), ("client", 40), ("median", 7), ("unit", 7), ("n", 2),
            ("vs raw C", 8), ("cpu%", 4), ("rq%", 3), ("bound: server (wrk, busy) | client cpu", 46),
            ("target", 36), ("observed", 24), ("result", 7)]
    lines = [" | ".join(name.ljust(w) for name, w in cols).rstrip(),
             "-+-".join("-" * w for _, w in cols)]
    last = None
    for rec in records:
        cells = [rec["workload"] if rec["workload"] != last else "", rec["client"],
                 fmt_v(float(rec["median"])) if rec["median"] else "-", rec["unit"],
                 str(rec["n"]),
                 fmt_x(shown_vs[rec["key"]]) if shown_vs[rec["key"]] is not None else "",
                 rec["cpu_pct"], rec["runqueue_wait_pct"], rec["bound"], rec["target"],
                 rec["observed"], rec["result"]]
        last = rec["workload"]
        lines.append(" | ".join(c.rjust(w) if name in ("median", "n", "cpu%", "rq%") else c.ljust(w)
                                for c, (name, w) in zip(cells, cols)).rstrip())
    return lines, records


def so_digest():
    """sha256 (12 digits) of the installed routerkeys.so: the code every new backend loads."""
    try:
        libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True,
                                timeout=20).stdout.strip()
        with open(os.path.join(libdir, "routerkeys.so"), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:12]
    except (OSError, subprocess.TimeoutExpired):
        return "unreadable"


SO_START = None     # its digest when the run started
SO_CHANGES = []     # (where, digest) each time it was found changed


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def machine():
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:
        ncpu = os.cpu_count()
    sdk_version = "?"
    try:
        sdk_dir = os.environ.get("RK_BENCH_SDK_DIR") or os.path.join(
            TOP, "test", "fidelity", "node_modules", "orq-current")
        with open(os.path.join(sdk_dir, "package.json")) as f:
            sdk_version = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        pass
    requests_version = first(["python3", "-c", "import requests; print(requests.__version__)"])
    return [
        f"date:     {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine:  nproc {ncpu}, CPU {model}, memory {mem_kb / 1048576:.1f} GiB, "
        f"{first(['uname', '-sr'])}; load average at start {loadavg()}",
        f"versions: {psql('SELECT version()')[0][0].split(' on ')[0]}; "
        f"libcurl {first(['curl-config', '--version']).split()[-1]}; "
        f"json-c {first(['pkg-config', '--modversion', 'json-c'])}; "
        f"node {first(['node', '--version'])}, @orq-ai/node {sdk_version}; "
        f"requests {requests_version}; routerkeys at "
        f"{first(['git', '-C', TOP, 'describe', '--always', '--dirty'])}, installed "
        f"routerkeys.so sha256 {SO_START}",
    ]


NOTES = [
    "median: of every sample (n) over the rounds.  vs raw C: the median divided by raw C's on "
    "the same work (1.00x is the practical limit).",
    "cpu%: CPU time of the process doing the work (the backend for SQL clients) over the "
    "elapsed time.  rq%: the share of the elapsed time it was ready to run but waited for a "
    "CPU held by another process (the stub, or other work on the machine): a high rq% means "
    "a contended, noisy measurement.",
    "W1, W2, W4: SQL clients timed inside the backend (clock_timestamp), after an untimed "
    "warm-up call in the same session.  W1 foreign table: SELECT ... WHERE id = $1 in a "
    "PL/pgSQL loop.",
    "W2 peak memory growth: VmHWM after minus before the scan, of the backend or of the client "
    "process.  W4: a GROUP BY status of 10 000 local tenants joined on key id; its target "
    "compares each routerkeys join with the same client's list of the same 10 000 keys.",
    "W3: the stub adds 10 ms to each request and is reset before each run; one at a time = a "
    "row trigger calling create_key (as in the README); concurrent = INSERT ... SELECT into "
    "the foreign table with batch_size 16 or 32.  raw C and PL/Python one at a time are "
    "latency-bound references, measured in the first round only.",
    "against nginx (W1, W2, W4): the same statements and rawc runs, after the stub's rows of "
    "the same workload, against nginx serving the stub's answers of that round as static files "
    "(fetched once with the requests routerkeys sends: GET /v2/api-keys/{id}, and each page of "
    f"GET /v2/api-keys?source=router&limit={PAGE}[&starting_after=<last id>]; any other "
    "request would be a 404 and an error).  routerkeys goes through the server "
    f"{STATIC_SERVER}, set in the session by routerkeys.default_server and search_path (so "
    "get_key(), the view and router_keys are its own); the stub's rows use the only-server "
    "shortcut, one server lookup by name per call less.  vs raw C: against raw C against "
    "nginx.",
    "bound: srv = the server's time for the requests of one call (its time per request by wrk "
    f"-c1, from the capacity rows, times 1 request for W1, {N_LIST // PAGE + 1} pages for W2, "
    f"{N_REPORT // PAGE + 1} for W4): wrk's own work and the loopback round trip are in it, and "
    "it was measured at the start, not during the row; busy = nginx's CPU time during the row's "
    "measurements, per call (/proc/<pid>/schedstat; the stub's is not read: its threads, one "
    "per connection, take their CPU time with them when they exit); cpu = the CPU time of the "
    "client process for one call (the backend's for routerkeys, rawc's own; "
    "/proc/<pid>/schedstat around the work).  Each in the row's unit and as a share of its "
    "median.  Then \"server\" when the server's part (busy, else srv) >= cpu, else "
    "\"client\"; the rest of the median is the round trip and waiting for a CPU (rq%).",
    "W5: wall time of a new process doing one call (psql: connection, backend start, "
    "extension load, HTTP connection).",
    "W7 (durable provisioning; only when RK_BENCH_WORKLOADS names it): its own server "
    "{S}, a tenant table with the provision() trigger (key id written back, token "
    "delivered to a table).  a) {N} rows in one INSERT, then COMMIT; timed by the server's "
    "clock from just before COMMIT to max(done_at) (done_at: the start of the worker's "
    "transaction that records an answered intent), and to the first 10 ms poll that finds no "
    "intent pending or sending; cpu%/rq%: the worker process's.  The floor is the stub's "
    "10 ms per request times {N} / concurrency, what the worker adds beyond it is its claims "
    "(256 at a time, sent in waves of max_concurrency), records, write-backs and deliveries.  "
    "raw C: the same creates, 16 in flight on curl multi, connections opened in the timed "
    "part; max_concurrency 1 is timed every round.".format(N=N_DRAIN, S=W7_SERVER),
    f"W8 (latency-bound; only when RK_BENCH_WORKLOADS names it): the stub adds "
    f"{W8_LATENCY_MS} ms to every request (W8b: "
    f"{', '.join(f'{n} tenants at {lat} ms' for lat, n in REPORT_POINTS)}), "
    f"{N8_KEYS} keys, W8's own foreign table {W8_FT} (server bench, page_size {PAGE}, "
    f"batch_size {W8_BATCH}).  observed: the requests of the timed work (the stub's count, "
    "less the untimed warm-up's), latency x requests / concurrency = the floor (a cursor makes "
    "the pages sequential: concurrency 1), the median over it, and the concurrency reached "
    "(requests x latency / median).  a) count of the listing; raw C pages with one connection.  "
    f"b) {N8_TENANTS} local tenants (every {N8_KEYS // N8_TENANTS}th key; fewer at +50 ms, "
    "where a GET per tenant for 1 000 would take 50 s; the checks: points near the crossover) "
    "JOIN status GROUP BY status: as planned, then per-row GETs "
    "forced by writing the join as CROSS JOIN LATERAL (SELECT status ... WHERE k.id = "
    "t.key_id OFFSET 0) (enable_* settings alone do not give it: without hash joins the "
    "planner nests the tenants under the listing) and listing + hash forced (enable_nestloop, "
    "enable_mergejoin off); "
    "at the main points also the join with AND k.id = ANY(ARRAY(SELECT key_id FROM "
    f"tenants)): one scan of concurrent GETs, {W8_CONC} at once (libcurl's connection limit "
    "in src/http.c; warm-up: the same statement); raw C: a GET per tenant one at a time, the "
    f"listing hashed, and {W8_CONC} GETs at once.  +0 ms points: {W8_REPS_B0} samples a "
    "round, and per-row also with jit off (its costs, 1 001 a GET, pass jit_above_cost from "
    "100 tenants on, and the inlining and optimization thresholds from 500).  Plans in "
    "out/w8-plans.txt.  c) "
    f"id = ANY({N8_ANY} ids) (warm-up: the same statement) against get_key() one at a time "
    f"in a LATERAL; raw C {N8_ANY} at once on curl multi and one at a time (warm-ups open the "
    f"connections).  d) INSERT ... SELECT of {N8_CREATE} rows, batch_size {W8_BATCH}, "
    f"against raw C with {W8_BATCH} in flight (connections opened in the timed part); the "
    "keys are deleted afterwards through the foreign table, at +0 ms.",
    f"W7 b) {N_SPACED} single-row autocommit INSERTs {SPACING_S * 1000:g} ms apart, one "
    "sample of p50 and p99 per round: done_at - enqueued_at (enqueued_at: the INSERT's "
    "transaction start); floor: the latency the stub adds, beyond it the wake-up at COMMIT "
    "and the worker's claim.  c) after a warm-up intent, its rows deleted: the worker's CPU "
    "time (/proc/<pid>/stat, clock ticks) and context switches (/proc/<pid>/status) over "
    "the window, its scans of routerkeys.intent (pg_stat_all_tables) and the database's "
    "transactions (pg_stat_database) less the one read of this session that the window "
    "counts; autovacuum is off during the window (ALTER SYSTEM, reset after) so that its "
    "visits are not counted, and routerkeys.worker_idle_timeout (after which an idle worker "
    "exits) is raised to the window plus a minute when it is shorter.  0 context switches "
    "means the worker did not run at all.",
]


def main():
    os.makedirs(OUT, exist_ok=True)
    wanted = os.environ.get("RK_BENCH_CLIENTS")
    for c in HAVE:
        if wanted and c not in wanted.split(","):
            HAVE[c] = False
            SKIPPED[c] = "not in RK_BENCH_CLIENTS"
    for item in os.environ.get("RK_BENCH_SKIP", "").split(";"):
        if item:
            c, why = item.split("=", 1)
            HAVE[c] = False
            SKIPPED[c] = why
    if shutil.which("wrk") is None and HAVE["wrk"]:
        HAVE["wrk"] = False
        SKIPPED["wrk"] = "wrk is not installed (apt-get install wrk)"

    global SO_START
    SO_START = so_digest()
    info = machine()
    for line in info:
        log(line)
    p = subprocess.run(["psql", "-X", "-q", "-v", f"stub_url={STUB}",
                        "-v", f"have_plpython={'true' if HAVE['plpython'] else 'false'}",
                        "-f", os.path.join(HERE, "setup.sql")],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stdout + p.stderr, file=sys.stderr)
        sys.exit("bench: setup.sql failed")

    nginx_start()

    def on_term(signum, frame):
        """Stops nginx, then dies of the signal as before (the stop of run.sh's timeout)."""
        nginx_stop()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        run(info)
    finally:
        nginx_stop()


def run(info):
    if NGINX is not None:
        log(f"nginx {NGINX.version} at {NGINX.url} (the reference server, {NGINX.dir})")
    else:
        log(f"no rows against nginx: {NGINX_SKIP}")
    capacity()
    plans()

    rounds_done = 0
    took = {}           # workload -> seconds of its last run
    over = False
    for rnd in range(ROUNDS):
        for name, fn in WORKLOADS:
            # No workload starts that would likely end past the budget (its last duration).
            if name in took and time.monotonic() - START + took[name] > BUDGET_S:
                log(f"stopping in round {rnd + 1}: {name} would likely end past the "
                    f"{BUDGET_S:.0f} s budget (RK_BENCH_BUDGET_S)")
                over = True
                break
            log(f"round {rnd + 1}/{ROUNDS} {name}")
            t0 = time.monotonic()
            try:
                fn(rnd)
            except Exception as e:  # noqa: BLE001 - a set-up failure costs this workload only
                ERRORS.append((name, str(e)[:300]))
                log(f"  {name}: ERROR {e}")
            took[name] = time.monotonic() - t0
            now = so_digest()
            if now != (SO_CHANGES[-1][1] if SO_CHANGES else SO_START):
                SO_CHANGES.append((f"round {rnd + 1} {name}", now))
                log(f"  WARNING: the installed routerkeys.so changed (now {now})")
        if over:
            break
        rounds_done += 1

    if PERF:
        try:
            profile()
        except Exception as e:  # noqa: BLE001
            log(f"profile: ERROR {e}")

    lines, records = build_table()
    report = [
        "",
        f"routerkeys benchmark: {rounds_done} full round(s){' (budget reached)' if over else ''}, "
        f"clients in alternation; "
        f"run took {time.monotonic() - START:.0f} s; load average at end {loadavg()}",
        *info,
        f"stub:     {STUB} (test/stub/rkstub), page_size / limit {PAGE}",
        f"nginx:    {NGINX.url} (nginx {NGINX.version}: the stub's answers as static files; "
        f"server {STATIC_SERVER})" if NGINX else f"nginx:    not run ({NGINX_SKIP})",
        "",
        *lines,
        "",
        *[n for n in NOTES if (not n.startswith(("W7", "W8")) or
                               any(w == n[:2] for w, _ in WORKLOADS))
          and (not n.startswith(("against nginx", "bound:")) or
               any(w in NGINX_WORKLOADS for w, _ in WORKLOADS))],
    ]
    report += [f"WARNING: the installed routerkeys.so was replaced during {where} (now {d}; "
               f"another 'make install' on this machine): routerkeys rows mix builds"
               for where, d in SO_CHANGES]
    report += [f"note {n}" for n in dict.fromkeys(W7_NOTES)]     # each once
    if any(w == "W8" for w, _ in WORKLOADS):
        report += [f"note {n}" for n in W8_NOTES + w8_summary()]
    report += [f"skipped {c}: {why}" for c, why in SKIPPED.items()]
    if NGINX is None and any(w in NGINX_WORKLOADS for w, _ in WORKLOADS):
        report.append(f"skipped the rows against nginx: {NGINX_SKIP}")
    report += [f"error {key}: {msg}" for key, msg in ERRORS]
    text = "\n".join(report) + "\n"
    print(text)
    if ROUNDS == 0:     # a profile-only run keeps the last results
        sys.exit(1 if ERRORS else 0)
    with open(os.path.join(OUT, "report.txt"), "w") as f:
        f.write(text)
    with open(os.path.join(OUT, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(records[0].keys()))
        w.writeheader()
        w.writerows(records)
    print(f"written: {os.path.relpath(OUT, TOP)}/results.csv, report.txt, plans.txt")
    sys.exit(1 if ERRORS else 0)


if __name__ == "__main__":
    main()
