#!/usr/bin/env bash
# The routerkeys benchmark (`make bench`, which runs it through `test/run.sh bench`: that
# starts the stub of the provisioning API and a throwaway cluster, exports PGHOST, PGPORT,
# PGUSER, PGDATABASE and RK_STUB_URL, and stops everything afterwards).
#
# Prepares the clients, then runs test/bench/bench.py, which measures and prints the table
# (also test/bench/out/results.csv and report.txt):
#   raw C      test/bench/rawc.c, built here into test/bench/out/rawc (libcurl + json-c)
#   PL/Python  postgresql-plpython3-15 and python3-requests (test/deps.sh --bench installs
#              them when missing and we may); without them the PL/Python rows are skipped
#   Node SDK   @orq-ai/node 4.15.11 from test/fidelity/node_modules (npm ci there when
#              missing); without it the SDK rows are skipped
# and the reference server nginx (bench.py starts it; test/deps.sh --bench installs it when
# missing and we may); without it the rows against nginx are skipped.
#
# Environment: RK_BENCH_ROUNDS (3), RK_BENCH_BUDGET_S (600: no workload starts that would
# likely end past it), RK_BENCH_PERF=1 (perf profiles of the routerkeys backend into
# out/perf-*.txt), RK_BENCH_CLIENTS (e.g. rawc,routerkeys), RK_BENCH_WORKLOADS (W1 to W6
# unless it names W7, the outbox workload, or W8, the latency-bound one, or says "all"),
# RK_BENCH_IDLE_S (60: W7's idle window), RK_BENCH_TIMEOUT_S (780: the hard stop, should a step hang past its own 120 s
# limit).
# Exits non-zero only when a measurement could not be made; slow results are reported.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out="$here/out"
mkdir -p "$out"

: "${RK_STUB_URL:?run this through test/run.sh bench (make bench)}"
: "${PGHOST:?run this through test/run.sh bench (make bench)}"

skip=()

# PL/Python, requests and nginx: install them when missing (a no-op otherwise).
have_plpython() {
    [ -f "$(pg_config --sharedir)/extension/plpython3u.control" ] &&
        python3 -c 'import requests' 2>/dev/null
}
have_nginx() {
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]
}
if ! have_plpython || ! have_nginx; then
    if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null; then
        echo "bench: installing PL/Python, python3-requests and nginx (test/deps.sh --bench)"
        timeout 600 "$top/test/deps.sh" --bench || true
    fi
fi
have_plpython || skip+=("plpython=postgresql-plpython3-15 or python3-requests is missing")

# The raw C client (the flags are meant to be split into words).
# shellcheck disable=SC2046
if ! cc -O2 -Wall -Wextra -o "$out/rawc" "$here/rawc.c" \
    $(curl-config --cflags --libs) $(pkg-config --cflags --libs json-c); then
    echo "bench: could not build test/bench/rawc.c" >&2
    exit 1
fi

# The vendor's SDK, shared with the fidelity suite.
sdk_dir="${RK_BENCH_SDK_DIR:-$top/test/fidelity/node_modules/orq-current}"
if [ ! -f "$sdk_dir/package.json" ] && command -v npm >/dev/null; then
    echo "bench: installing the SDK (npm ci in test/fidelity)"
    (cd "$top/test/fidelity" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) ||
        true
fi
if ! command -v node >/dev/null || [ ! -f "$sdk_dir/package.json" ]; then
    skip+=("sdk=node or @orq-ai/node is missing (npm ci in test/fidelity)")
fi

RK_BENCH_SKIP=$(IFS=';'; echo "${skip[*]+"${skip[*]}"}") \
    RK_BENCH_SDK_DIR="$sdk_dir" \
    timeout "${RK_BENCH_TIMEOUT_S:-780}" python3 "$here/bench.py"
