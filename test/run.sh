#!/usr/bin/env bash
# The test bed: installs the built extension, starts a throwaway PostgreSQL cluster and the
# stub of the provisioning API on free loopback ports, runs one of
#   test   every suite (pg_regress, then the TAP suites), closing with "N passed, M failed"
#   installcheck   the pg_regress suite against the running server PGHOST/PGPORT name
#          (nothing installed, no cluster started: only the stub)
#   demo   the walk-through of test/demo.sql
#   bench  the benchmark (test/bench/run.sh)
# and stops everything it started, on success, failure or interrupt.
#
# RK_VALGRIND=1 runs every backend under valgrind's memcheck (slow; for leak checks): the
# logs are left in the run's folder, which is then kept.
#
# Run as root, the cluster belongs to the unprivileged "postgres" user (PostgreSQL refuses
# to run as root). Everything lives in one temporary folder, removed at the end unless
# RK_KEEP=1.
set -euo pipefail

mode=${1:-test}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

export PG_CONFIG=${PG_CONFIG:-pg_config}
pgbin=$("$PG_CONFIG" --bindir)
pg_regress="$("$PG_CONFIG" --pkglibdir)/pgxs/src/test/regress/pg_regress"

work=$(mktemp -d /tmp/routerkeys-test.XXXXXX)
chmod 755 "$work"
stub_pid=""
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    as_owner=(runuser -u postgres --)
    chown postgres "$work"
fi

cleanup() {
    set +e
    if [ -f "$work/data/postmaster.pid" ]; then
        "${as_owner[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1
    fi
    if [ -n "$stub_pid" ]; then
        kill "$stub_pid" 2>/dev/null
        wait "$stub_pid" 2>/dev/null
    fi
    if [ "${RK_KEEP:-0}" = 1 ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free TCP port on the loopback interface, picked by the kernel.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until a file exists and is not empty, for at most ten seconds.
wait_for_file() {
    for _ in $(seq 100); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    echo "timed out waiting for $1" >&2
    return 1
}

install_extension() {
    if ! make -s install >"$work/install.log" 2>&1; then
        cat "$work/install.log" >&2
        echo "could not install the extension (run 'make install' as a user who may)" >&2
        exit 1
    fi
}

start_stub() {
    test/stub/rkstub --port 0 --port-file "$work/stub.port" --quiet >"$work/stub.log" 2>&1 &
    stub_pid=$!
    wait_for_file "$work/stub.port"
    export RK_STUB_URL="http://127.0.0.1:$(cat "$work/stub.port")"
    export RK_STUB_BIN="$top/test/stub/rkstub"
}

start_cluster() {
    local port
    port=$(free_port)
    "${as_owner[@]}" "$pgbin/initdb" -D "$work/data" -U postgres -A trust --no-sync \
        >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 1; }
    cat >>"$work/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
fsync = off
log_line_prefix = '%m [%p] %q%u@%d '
lc_messages = 'C'
shared_preload_libraries = 'routerkeys'
routerkeys.settle_delay = '2s'
EOF
    local postgres=()
    if [ "${RK_VALGRIND:-0}" = 1 ]; then
        RK_KEEP=1
        cat >"$work/postgres-valgrind" <<EOF
#!/bin/sh
exec valgrind --quiet --trace-children=yes --track-origins=no --leak-check=full \\
    --show-leak-kinds=definite --num-callers=30 --log-file=$work/valgrind.%p.log \\
    $pgbin/postgres "\$@"
EOF
        chmod 755 "$work/postgres-valgrind"
        postgres=(-p "$work/postgres-valgrind" -t 600)
    fi
    # The server's environment carries a key for the provisioning_key_env test.
    RK_TEST_PROVISIONING_KEY=rk-test-provisioning-valid \
        "${as_owner[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/server.log" -w "${postgres[@]}" start \
        >/dev/null || { cat "$work/server.log" >&2; exit 1; }
    export PGHOST="$work" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
    export RK_SERVER_LOG="$work/server.log"
    # For suites that stop, kill and restart the cluster: its data directory, and the
    # command prefix that runs a command as the cluster's owner (empty unless root).
    export RK_PGDATA="$work/data" RK_AS_OWNER="${as_owner[*]}"
}

# Runs pg_regress over test/schedule (or only the tests RK_TESTS names); prints its summary
# and sets the counters.
run_regress() {
    local out="$work/regress.out" rc=0 tests=(--schedule=test/schedule)
    [ -n "${RK_TESTS:-}" ] && read -r -a tests <<<"$RK_TESTS"
    "$pg_regress" --inputdir=test --outputdir=. "${tests[@]}" \
        --dbname=routerkeys_regression >"$out" 2>&1 || rc=$?
    cat "$out"
    local ran failed
    ran=$(grep -cE '^(test| ) *[a-z_0-9]+ +\.\.\. ' "$out" || true)
    [ "$ran" -gt 0 ] || ran=$(grep -cE '^(ok|not ok) ' "$out" || true)
    failed=$(grep -cE '\.\.\. FAILED|^not ok ' "$out" || true)
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1
    fi
    passed=$((passed + ran - failed))
    failures=$((failures + failed))
    if [ "$failed" -ne 0 ] && [ -f regression.diffs ]; then
        head -n 200 regression.diffs
    fi
}

# Runs one TAP suite; counts its ok / not ok lines. A suite that dies counts as a failure.
run_tap() {
    local suite=$1 out="$work/tap.out" rc=0
    echo "== $suite"
    "$suite" >"$out" 2>&1 || rc=$?
    cat "$out"
    local ok notok
    ok=$(grep -cE '^ok ' "$out" || true)
    notok=$(grep -cE '^not ok ' "$out" || true)
    if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        notok=1
    fi
    passed=$((passed + ok))
    failures=$((failures + notok))
}

if [ "$mode" = installcheck ]; then
    start_stub
    passed=0
    failures=0
    run_regress
    echo
    echo "$passed passed, $failures failed"
    [ "$failures" -eq 0 ]
    exit
fi

install_extension
start_stub
start_cluster

case "$mode" in
test)
    passed=0
    failures=0
    # RK_TESTS and RK_TAP (developers): only these pg_regress tests, only these TAP suites.
    if [ -n "${RK_TESTS:-}" ] || [ -z "${RK_TAP:-}" ]; then
        run_regress
    fi
    suites=(test/stub/check.sh test/fidelity/run.sh test/fuzz/replay.sh test/tap/*.sh)
    if [ -n "${RK_TAP:-}" ]; then
        read -r -a suites <<<"$RK_TAP"
    elif [ -n "${RK_TESTS:-}" ]; then
        suites=()
    fi
    for suite in "${suites[@]+"${suites[@]}"}"; do
        [ -x "$suite" ] && run_tap "$suite"
    done
    echo
    echo "$passed passed, $failures failed"
    [ "$failures" -eq 0 ]
    ;;
demo)
    psql -X -q -v ON_ERROR_STOP=0 -f ${RK_DEMO_SQL:-test/demo.sql}
    ;;
bench)
    test/bench/run.sh
    ;;
*)
    echo "usage: $0 test|installcheck|demo|bench" >&2
    exit 2
    ;;
esac
