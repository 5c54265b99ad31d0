#!/usr/bin/env bash
# Fidelity suite: checks the stub of the provisioning API against the vendor's official SDK
# (@orq-ai/node 4.15.11 for the current generation, 4.11.10 for the legacy one; see
# fidelity.mjs). Installs the SDKs from package-lock.json into test/fidelity/node_modules
# when they are missing, then runs the checks.
#
# Usage (from anywhere, against a running stub in the current generation):
#   RK_STUB_URL=http://127.0.0.1:PORT test/fidelity/run.sh
# Prints TAP and exits 0 only when every check passes. Leaves the stub reset, in the current
# generation, with no fault armed, even when the checks die.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
: "${RK_STUB_URL:?RK_STUB_URL must name a running stub, e.g. http://127.0.0.1:8080}"

restore() {
    curl -sS --max-time 5 -o /dev/null -X DELETE "$RK_STUB_URL/__admin/faults" 2>/dev/null
    curl -sS --max-time 5 -o /dev/null -X POST -H 'Content-Type: application/json' \
        --data '{"generation":"current","latency_ms":0}' "$RK_STUB_URL/__admin/config" 2>/dev/null
}
trap restore EXIT
trap 'exit 130' INT TERM

if [ ! -f "$here/node_modules/orq-current/package.json" ] ||
    [ ! -f "$here/node_modules/orq-legacy/package.json" ]; then
    if ! (cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >"$here/npm-ci.log" 2>&1; then
        echo "1..1"
        echo "not ok 1 - npm ci installs the SDKs from test/fidelity/package-lock.json"
        sed 's/^/#   /' "$here/npm-ci.log"
        rm -f "$here/npm-ci.log"
        exit 1
    fi
    rm -f "$here/npm-ci.log"
fi

cd "$here" && timeout 110 node fidelity.mjs
