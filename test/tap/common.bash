# Helpers the TAP suites of test/tap share (sourced, not run: run.sh runs *.sh only).
# A suite sets n=0 and failed=0 before its first check.

# One TAP line: ok when $1 is 0, else not ok (and counted in $failed).
ok() {
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2"
    else
        failed=$((failed + 1))
        echo "not ok $n - $2"
    fi
}

# Arms a fault of the stub (JSON spec in $1).
fault() {
    curl -s -m 5 -X POST "$RK_STUB_URL/__admin/faults" -d "$1" >/dev/null
}
