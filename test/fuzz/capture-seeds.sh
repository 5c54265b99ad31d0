#!/usr/bin/env bash
# Regenerates the seed corpus test/fuzz/seeds/ from the stub's real responses: list,
# create, get, update and delete in both API generations, the API's error body forms, and
# the bodies of the faults that change a response (truncate, invalid_utf8, wrong_types,
# html, oversized).  Run from anywhere; builds and starts its own stub on a free port and
# stops it on exit.  The seeds hold ids and times of the run, so a rerun changes them.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
seeds="$top/test/fuzz/seeds"
tmp=$(mktemp -d /tmp/rk-fuzz-seeds.XXXXXX)
stub_pid=""

cleanup() {
    if [ -n "$stub_pid" ]; then
        kill "$stub_pid" 2>/dev/null || true
        wait "$stub_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

make -s -C "$top" stub
"$top/test/stub/rkstub" --port 0 --port-file "$tmp/port" --quiet >"$tmp/stub.log" 2>&1 &
stub_pid=$!
for _ in $(seq 100); do
    [ -s "$tmp/port" ] && break
    sleep 0.1
done
url="http://127.0.0.1:$(cat "$tmp/port")"
auth="Authorization: Bearer rk-test-provisioning-valid"

# admin PATH [BODY]: a POST to the test-control API, its answer discarded.
admin() {
    curl -sf -o /dev/null -X POST "$url$1" -d "${2:-}"
}

# save NAME METHOD PATH [BODY] [AUTH]: one API response body into seeds/NAME.
save() {
    local name=$1 method=$2 path=$3 body=${4:-} header=${5:-$auth}
    local args=(-s -X "$method" -H "$header" -o "$seeds/$name")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
    curl "${args[@]}" "$url$path" || true
}

# id_of FILE: the id of the key in a response of either generation.
id_of() {
    python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); o=o.get("api_key",o); print(o.get("id") or o["api_key_id"])' "$1"
}

# fault KIND [EXTRA]: arms one fault of that kind for the next API request.
fault() {
    admin /__admin/faults "{\"kind\":\"$1\",\"count\":1${2:+,$2}}"
}

rm -rf "$seeds"
mkdir -p "$seeds"

for gen in current legacy; do
    admin /__admin/reset
    admin /__admin/config "{\"generation\":\"$gen\"}"
    save "$gen-list-empty.json" GET /v2/api-keys
    admin /__admin/seed '{"count":3,"name_prefix":"seed-"}'
    admin /__admin/seed '{"count":1,"status":"disabled","project_id":"proj-1"}'
    admin /__admin/seed '{"count":1,"status":"revoked"}'
    save "$gen-list.json" GET /v2/api-keys
    save "$gen-list-page.json" GET '/v2/api-keys?limit=2'
    save "$gen-create.json" POST /v2/api-keys '{"name":"fuzz-create"}'
    save "$gen-create-scoped.json" POST /v2/api-keys \
        '{"name":"fuzz-scoped","expires_at":"2031-01-02T03:04:05Z","permission_mode":"PERMISSION_MODE_ALL","project_scope":{"single":{"project_id":"proj-2"}},"owner":{"user":{"user_id":"user-1"}}}'
    id=$(id_of "$seeds/$gen-create.json")
    save "$gen-get.json" GET "/v2/api-keys/$id"
    save "$gen-update.json" PATCH "/v2/api-keys/$id" \
        '{"name":"fuzz-renamed","status":"API_KEY_STATUS_DISABLED","expires_at":"2032-05-06T07:08:09.123Z"}'
    save "$gen-delete.json" DELETE "/v2/api-keys/$id"
    save "$gen-error-not-found.json" GET "/v2/api-keys/$id"
    save "$gen-error-create-invalid.json" POST /v2/api-keys '{"name":5}'
    save "$gen-error-unauthorized.json" GET /v2/api-keys '' 'Authorization: Bearer rk-nope'
    save "$gen-error-forbidden.json" GET /v2/projects
    for kind in truncate invalid_utf8 wrong_types; do
        fault "$kind"
        save "$gen-fault-$kind-list.json" GET /v2/api-keys
        fault "$kind"
        save "$gen-fault-$kind-create.json" POST /v2/api-keys "{\"name\":\"fuzz-$kind\"}"
    done
done

admin /__admin/config '{"generation":"current"}'
fault html
save fault-html.html GET /v2/api-keys
fault oversized '"bytes":70000'
save fault-oversized-list.json GET /v2/api-keys
for form in object code_error plain code_message; do
    fault status "\"status\":429,\"error_form\":\"$form\""
    save "error-form-$form-429.json" GET /v2/api-keys
done
fault status '"status":502,"error_form":"html"'
save error-form-html-502.html GET /v2/api-keys
fault status '"status":500,"error_form":"object","message":"upstream \"router\" failed: caf\u00e9"'
save error-form-object-500-escapes.json GET /v2/api-keys
admin /__admin/reset
ls "$seeds" | wc -l
