#!/usr/bin/env bash
# Checks the stub of the provisioning API (test/stub/rkstub) against its specification and
# /work/shared/API.md, from the outside, with curl and jq: every endpoint on both response
# generations, cursor pagination, filters, validation, bearer checks, the request log, every
# fault kind, latency, bulk seeding and the HTTPS listener.
#
# Usage (from the project root, against a running stub in the current generation):
#   RK_STUB_URL=http://127.0.0.1:PORT RK_STUB_BIN=test/stub/rkstub test/stub/check.sh
# Prints TAP (the plan first) and exits 0 only when every check passes. It resets the stub
# when it starts and leaves it reset, in the current generation, with no fault armed and no
# added latency. A second stub (HTTPS) and a third one (for POST /__admin/down, so that the
# stub under test never goes away) are started on kernel-chosen loopback ports and killed
# on exit.
set -uo pipefail

URL=${RK_STUB_URL:?RK_STUB_URL must name a running stub, e.g. http://127.0.0.1:8080}
BIN=${RK_STUB_BIN:-test/stub/rkstub}
VALID=rk-test-provisioning-valid
DISABLED=rk-test-provisioning-disabled
REVOKED=rk-test-provisioning-revoked
WRONG=rk-test-provisioning-not-a-key
AUTH=$VALID

ULID='^[0-7][0-9A-HJKMNP-TV-Z]{25}$'
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'

T=$(mktemp -d /tmp/rkcheck.XXXXXX)
results=$T/results
: >"$results"
n=0
failed=0
tls_pid=""
down_pid=""
interrupted=0

# ---------------------------------------------------------------------------------------
# TAP output: results are collected and printed, after the plan, when the suite ends.

pass() {
    n=$((n + 1))
    echo "ok $n - $1" >>"$results"
}

fail() {
    n=$((n + 1))
    failed=$((failed + 1))
    {
        echo "not ok $n - $1"
        shift
        local d
        for d in "$@"; do
            printf '%s' "${d:0:1500}" | sed 's/^/#   /'
            echo
        done
    } >>"$results"
}

# A check is begin … want* … end "description": it passes when no want* found a problem.
begin() { probs=(); }

end() {
    if [ ${#probs[@]} -eq 0 ]; then
        pass "$1"
    else
        fail "$1" "${probs[@]}"
    fi
}

problem() { probs+=("$1"); }

want_code() {
    local c
    for c in "$@"; do
        [ "$code" = "$c" ] && return 0
    done
    problem "status: expected $*, got $code [$last] body: $(head -c 300 "$T/body" 2>/dev/null)"
}

# want JQ_FILTER [jq options…]: the last response body makes the filter true.
want() {
    local f=$1
    shift
    jq -e "$@" "$f" "$T/body" >/dev/null 2>&1 ||
        problem "expected ($f) [$last] body: $(head -c 400 "$T/body" 2>/dev/null)"
}

# want_that DESCRIPTION COMMAND…: the command succeeds.
want_that() {
    local d=$1
    shift
    "$@" || problem "$d"
}

# ---------------------------------------------------------------------------------------
# HTTP helpers.

# api METHOD PATH [BODY [curl options…]]: one request with the bearer in $AUTH (none when
# empty). Sets code, t_first, t_total, size, crc and last; the body goes to $OUT (default
# $T/body) and the headers to $T/hdr.
api() {
    local m=$1 p=$2 d=${3-} out=${OUT:-$T/body}
    shift 2
    [ $# -gt 0 ] && shift
    rm -f "$out" "$T/hdr"
    local a=(-sS --max-time "${MAXT:-10}" -X "$m" -o "$out" -D "$T/hdr"
        -w '%{http_code} %{time_starttransfer} %{time_total} %{size_download}')
    [ -n "${AUTH-}" ] && a+=(-H "Authorization: Bearer $AUTH")
    [ -n "$d" ] && a+=(-H 'Content-Type: application/json' --data-binary "$d")
    local w
    w=$(curl "${a[@]}" "$@" "$URL$p" 2>"$T/err")
    crc=$?
    read -r code t_first t_total size <<<"$w"
    [ -f "$out" ] || : >"$out"
    last="$m $p${d:+ $(head -c 200 <<<"$d")} -> $code, curl rc $crc"
}

# admin METHOD PATH [BODY]: an unauthenticated admin call; the answer goes to $T/abody.
admin() {
    OUT=$T/abody AUTH='' api "$@"
    acode=$code
}

aj() { jq -r "$@" "$T/abody"; }

# hdr NAME: the value of a response header of the last request.
hdr() {
    grep -i "^$1:" "$T/hdr" 2>/dev/null | tail -n 1 | cut -d: -f2- | sed 's/^ *//; s/\r$//'
}

reset_stub() { admin POST /__admin/reset; }
generation() { admin POST /__admin/config "{\"generation\":\"$1\"}"; }
arm() {
    admin POST /__admin/faults "$1"
    case "$acode" in 200 | 201 | 204) ;; *) problem "arming fault $1 -> $acode $(cat "$T/abody")" ;; esac
}
disarm() { admin DELETE /__admin/faults; }

# mk NAME [EXTRA_JSON_FIELDS]: creates a key (either generation) and prints its id.
mk() {
    api POST /v2/api-keys "{\"name\":\"$1\"${2:+,$2}}"
    jq -r '.id // .api_key_id // .api_key.api_key_id // empty' "$T/body" 2>/dev/null
}

# keycount: how many router keys the stub holds.
keycount() {
    admin GET /__admin/state
    aj '.keys | if type == "array" then length else . end'
}

# epoch TIMESTAMP: seconds since the epoch, or nothing.
epoch() { date -u -d "$1" +%s 2>/dev/null; }

# same_time A B: two timestamps name the same second.
same_time() { [ -n "$1" ] && [ -n "$2" ] && [ "$(epoch "$1")" = "$(epoch "$2")" ]; }

# same_word A B: A and B are equal and not empty.
same_word() { [ -n "$1" ] && [ "$1" = "$2" ]; }

# one_of VALUE CHOICES…: VALUE is one of the choices.
one_of() {
    local v=$1 c
    shift
    for c in "$@"; do
        [ "$v" = "$c" ] && return 0
    done
    return 1
}

# within N LOW HIGH: the integer N lies in [LOW, HIGH].
within() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# non_increasing_times FILE: the second column of FILE holds RFC 3339 UTC times, each no
# later than the one before (fractions of any length compared as numbers).
non_increasing_times() {
    cut -d' ' -f2 "$1" | jq -e -R -s '
        def t: capture("^(?<s>[^.Z]+)(?<f>\\.[0-9]+)?Z$") |
            [((.s + "Z") | fromdateiso8601), ("0" + (.f // "")) | tonumber];
        split("\n") | map(select(length > 0) | t) | . as $a |
        all(range(1; length); $a[. - 1] >= $a[.])' >/dev/null 2>&1
}

# ge A B / lt A B: compares decimal numbers (curl times).
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

finish() {
    local rc=$?
    set +e
    local pid
    for pid in "$tls_pid" "$down_pid"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    AUTH='' MAXT=5 OUT=$T/abody api DELETE /__admin/faults
    AUTH='' MAXT=5 OUT=$T/abody api POST /__admin/config '{"generation":"current","latency_ms":0}'
    AUTH='' MAXT=10 OUT=$T/abody api POST /__admin/reset
    if [ "$interrupted" = 1 ]; then
        fail "suite interrupted"
    elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        fail "suite ended early (exit status $rc)"
    fi
    echo "1..$n"
    cat "$results"
    rm -rf "$T"
    [ "$failed" -eq 0 ] && exit 0
    exit 1
}
trap finish EXIT
trap 'interrupted=1; exit 130' INT TERM

# ---------------------------------------------------------------------------------------
# Reachability and the admin endpoints.

begin
admin POST /__admin/reset
want_code 200 204
admin GET /__admin/state
cp "$T/abody" "$T/body"
want_code 200
want '.generation == "current"'
want '(.keys | if type == "array" then length else . end) == 0'
want '(.workspace_keys | if type == "array" then length else . end) == 3'
want '(.faults_armed | if type == "array" then length else . end) == 0'
want '.latency_ms == 0'
want '.requests | type == "number"'
end "admin: reset leaves no router key, 3 workspace keys, no fault, current generation"

# The ids of the seeded workspace keys, as the state names them (workspace_key_ids, or
# workspace_keys when that is a list).
mapfile -t ws_ids < <(jq -r '(.workspace_key_ids // .workspace_keys) | if type == "array" then .[] |
    (if type == "object" then (.id // .api_key_id) else . end) else empty end' "$T/abody" 2>/dev/null)

begin
if command -v ss >/dev/null; then
    port=${URL##*:}
    port=${port%%/*}
    ss -Hltn "sport = :$port" >"$T/ss" 2>/dev/null
    want_that "something listens on port $port" grep -q . "$T/ss"
    want_that "listens only on 127.0.0.1: $(cat "$T/ss")" \
        awk '{ if ($4 !~ /^127\.0\.0\.1:/) exit 1 }' "$T/ss"
    end "the stub listens on 127.0.0.1 only"
else
    pass "the stub listens on 127.0.0.1 only # SKIP ss (iproute2) is not installed"
fi

# ---------------------------------------------------------------------------------------
# Current generation: create, get, list, update, delete with real values.

begin
api POST /v2/api-keys '{"name":"alpha"}'
want_code 200
want 'type == "object" and has("api_key") == false'
want '.id | test($re)' --arg re "$ULID"
want '.name == "alpha"'
want '.workspace_id | type == "string" and length > 0'
want '.token | startswith("sk-orq-" + $id + "-")' --arg id "$(jq -r .id "$T/body" 2>/dev/null)"
want '.active == true'
want '.status == "API_KEY_STATUS_ACTIVE"'
want '.source == "router"'
want '.created | test($re)' --arg re "$RFC3339"
want '.updated | test($re)' --arg re "$RFC3339"
want '.permission_mode == "PERMISSION_MODE_ALL"'
want '.token_prefix | type == "string" and length > 0'
want '(.token | startswith("sk-orq-")) and (.token_prefix as $p | .token | startswith($p))'
want 'has("api_key_id") | not'
want 'has("created_at") | not'
end "current: create answers the key object itself: ULID id, name, workspace_id, raw sk-orq-<id>-<secret> token, active, status, times"
alpha=$(jq -r .id "$T/body")
alpha_token=$(jq -r .token "$T/body")
alpha_secret=${alpha_token#sk-orq-"$alpha"-}

begin
api GET "/v2/api-keys/$alpha"
want_code 200
want '.id == $id and .name == "alpha" and .active == true' --arg id "$alpha"
want '.token | type == "string"'
want '.token != $t' --arg t "$alpha_token"
want '.token | contains($s) | not' --arg s "$alpha_secret"
want '.token_prefix | type == "string"'
end "current: get answers the key object with the token masked (the secret never again)"

sleep 0.01
beta=$(mk beta)
begin
api GET /v2/api-keys
want_code 200
want 'type == "array" and length == 2'
want '.[0].id == $b and .[0].name == "beta"' --arg b "$beta"
want '.[1].id == $a and .[1].name == "alpha"' --arg a "$alpha"
want 'all(.[]; .token | contains($s) | not)' --arg s "$alpha_secret"
want 'all(.[]; .workspace_id | type == "string")'
want '.[0].created >= .[1].created'
end "current: list answers a bare array, newest first, tokens masked"

begin
api PATCH "/v2/api-keys/$alpha" '{"name":"alpha-renamed"}'
want_code 200
want '.id == $id and .name == "alpha-renamed"' --arg id "$alpha"
want '.active == true and .status == "API_KEY_STATUS_ACTIVE"'
want '.permission_mode == "PERMISSION_MODE_ALL"'
want '.token | contains($s) | not' --arg s "$alpha_secret"
api GET "/v2/api-keys/$alpha"
want '.name == "alpha-renamed" and .active == true'
end "current: PATCH name is sparse: the name changes, status and mode stay"

begin
api PATCH "/v2/api-keys/$alpha" '{"status":"API_KEY_STATUS_DISABLED"}'
want_code 200
want '.active == false and .status == "API_KEY_STATUS_DISABLED" and .name == "alpha-renamed"'
api GET "/v2/api-keys/$alpha"
want '.active == false and .status == "API_KEY_STATUS_DISABLED"'
api PATCH "/v2/api-keys/$alpha" '{"status":"API_KEY_STATUS_ACTIVE"}'
want_code 200
want '.active == true and .status == "API_KEY_STATUS_ACTIVE"'
end "current: PATCH status disables and re-enables a key (active follows status)"

future=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
begin
api PATCH "/v2/api-keys/$alpha" "{\"expires_at\":\"$future\"}"
want_code 200
got=$(jq -r '.expiration // empty' "$T/body")
want_that "expiration '$got' is $future" same_time "$got" "$future"
want '.name == "alpha-renamed"'
api GET "/v2/api-keys/$alpha"
got=$(jq -r '.expiration // empty' "$T/body")
want_that "expiration kept on get: '$got'" same_time "$got" "$future"
end "current: PATCH expires_at sets expiration (and keeps the name)"

begin
api PATCH "/v2/api-keys/$alpha" "{\"expires_at\":\"$future\",\"clear_expires_at\":true}"
want_code 400
want '.code == "invalid_argument" and (.message | type == "string" and length > 0)'
api GET "/v2/api-keys/$alpha"
want '.expiration != null'
end "current: PATCH with both expires_at and clear_expires_at is 400 {code:invalid_argument,message} and changes nothing"

begin
api PATCH "/v2/api-keys/$alpha" '{"clear_expires_at":true}'
want_code 200
want '(.expiration // null) == null'
want '.name == "alpha-renamed" and .active == true'
end "current: PATCH clear_expires_at removes the expiry"

begin
past=$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)
api PATCH "/v2/api-keys/$alpha" "{\"expires_at\":\"$past\"}"
want_code 400
api PATCH "/v2/api-keys/$alpha" '{"status":"API_KEY_STATUS_BOGUS"}'
want_code 400
api PATCH "/v2/api-keys/$alpha" '{"name":""}'
want_code 400
api PATCH "/v2/api-keys/$alpha" '{"name":'
want_code 400
api GET "/v2/api-keys/$alpha"
want '.name == "alpha-renamed" and .active == true and (.expiration // null) == null'
end "current: PATCH with a past expires_at, an unrecognized status, an empty name or broken JSON is 400"

begin
api PATCH "/v2/api-keys/$alpha" '{"name":"beta"}'
want_code 409
want '.error | type == "string" and length > 0'
end "current: PATCH renaming onto an existing name is 409 {error}"

begin
api PATCH "/v2/api-keys/$beta" '{"status":"API_KEY_STATUS_REVOKED"}'
want_code 200
want '.status == "API_KEY_STATUS_REVOKED" and .active == false'
api PATCH "/v2/api-keys/$beta" '{"status":"API_KEY_STATUS_ACTIVE"}'
want_code 400 409
api GET "/v2/api-keys/$beta"
want '.status == "API_KEY_STATUS_REVOKED" and .active == false'
end "current: revoked is terminal (re-enabling is refused, the key stays revoked)"

begin
api DELETE "/v2/api-keys/$beta"
want_code 204
want_that "204 body is empty (size $size)" [ "$size" = 0 ]
api GET "/v2/api-keys/$beta"
want_code 404
want '.code == 404 and (.error | type == "string") and .source == "system" and has("id")'
api DELETE "/v2/api-keys/$beta"
want_code 404
api PATCH "/v2/api-keys/$beta" '{"name":"zombie"}'
want_code 404
api GET /v2/api-keys
want 'map(.id) | index($b) == null' --arg b "$beta"
end "current: DELETE is 204 with no body; the key is gone (get, delete, patch: 404 {code:404,error,source:system,id})"

begin
api GET /v2/api-keys/01ARZ3NDEKTSV4RRFFQ69G5FAV
want_code 404
want '.code == 404 and .source == "system"'
end "current: GET of an unknown id is 404"

# ---------------------------------------------------------------------------------------
# Create validation.

begin
api POST /v2/api-keys '{}'
want_code 400
want '.code == "invalid_argument" and (.message | type == "string" and length > 0)'
api POST /v2/api-keys '{"name":""}'
want_code 400
api POST /v2/api-keys "{\"name\":\"$(printf 'x%.0s' {1..129})\"}"
want_code 400
api POST /v2/api-keys '{"name":42}'
want_code 400
api POST /v2/api-keys '{"name":"broken'
want_code 400
end "create: missing, empty, 129-character, non-string name and broken JSON are 400 {code:invalid_argument,message}"

begin
long=$(printf 'y%.0s' {1..128})
api POST /v2/api-keys "{\"name\":\"$long\"}"
want_code 200
want '.name == $n' --arg n "$long"
end "create: a 128-character name is accepted"

begin
e128=$(printf 'é%.0s' {1..128})
api POST /v2/api-keys "{\"name\":\"$e128\"}"
want_code 200
want '.name == $n' --arg n "$e128"
api POST /v2/api-keys "{\"name\":\"é$e128\"}"
want_code 400
end "create: the name limit counts characters, not bytes (128 × é accepted, 129 refused)"

begin
before=$(keycount)
api POST /v2/api-keys '{"name":"alpha-renamed"}'
want_code 409
want '.error | type == "string" and length > 0'
want_that "no key was added" [ "$(keycount)" = "$before" ]
end "create: a duplicate name is 409 {error} and creates nothing"

begin
api POST /v2/api-keys "{\"name\":\"expired\",\"expires_at\":\"$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)\"}"
want_code 400
want '.code == "invalid_argument"'
api POST /v2/api-keys '{"name":"notadate","expires_at":"next tuesday"}'
want_code 400
api POST /v2/api-keys "{\"name\":\"expiring\",\"expires_at\":\"$future\"}"
want_code 200
got=$(jq -r '.expiration // empty' "$T/body")
want_that "expiration '$got' equals $future" same_time "$got" "$future"
end "create: expires_at must be a future RFC 3339 time (past, garbage: 400; future: echoed as expiration)"

begin
api POST /v2/api-keys '{"name":"restricted-none","permission_mode":"PERMISSION_MODE_RESTRICTED"}'
want_code 400
api POST /v2/api-keys '{"name":"restricted","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"deployments":"ACCESS_LEVEL_READ"}}'
want_code 200
want '.permission_mode == "PERMISSION_MODE_RESTRICTED" and .access.deployments == "ACCESS_LEVEL_READ"'
api POST /v2/api-keys '{"name":"readonly","permission_mode":"PERMISSION_MODE_READ_ONLY"}'
want_code 200
want '.permission_mode == "PERMISSION_MODE_READ_ONLY"'
api POST /v2/api-keys '{"name":"badmode","permission_mode":"PERMISSION_MODE_SUPER"}'
want_code 400
end "create: RESTRICTED needs access (400 without, echoed with); READ_ONLY kept; an unrecognized mode is 400"

begin
api POST /v2/api-keys '{"name":"scoped","project_scope":{"single":{"project_id":"proj-9"}},"owner":{"user":{"user_id":"user-1"}}}'
want_code 200
want '.project_scope.single.project_id == "proj-9"'
want '.owner.user.user_id == "user-1"'
end "create: project_scope and owner are kept and returned"

begin
for field in type key_type kind; do
    api POST /v2/api-keys "{\"name\":\"prov-$field\",\"$field\":\"provisioning\"}"
    want_code 403
    want '.error.code == "forbidden" and (.error.message | type == "string")'
done
api GET "/v2/api-keys?search=prov-"
want 'length == 0'
end "create: a provisioning key (type, key_type or kind = provisioning) is 403 {error:{code:forbidden}} and not created"

# ---------------------------------------------------------------------------------------
# Filters.

reset_stub
f_tenant_a=$(mk Tenant-Alpha '"project_scope":{"single":{"project_id":"proj-1"}}')
f_tenant_b=$(mk tenant-BETA '"project_scope":{"single":{"project_id":"proj-2"}}')
f_other=$(mk other)
api PATCH "/v2/api-keys/$f_tenant_b" '{"status":"API_KEY_STATUS_DISABLED"}'
f_revoked=$(mk gone)
api PATCH "/v2/api-keys/$f_revoked" '{"status":"API_KEY_STATUS_REVOKED"}'

begin
api GET "/v2/api-keys?status=API_KEY_STATUS_DISABLED"
want_code 200
want 'map(.id) == [$b]' --arg b "$f_tenant_b"
api GET "/v2/api-keys?status=API_KEY_STATUS_ACTIVE"
want 'map(.id) | sort == ([$a, $o] | sort)' --arg a "$f_tenant_a" --arg o "$f_other"
api GET "/v2/api-keys?status=API_KEY_STATUS_REVOKED"
want 'map(.id) == [$r]' --arg r "$f_revoked"
end "filter: status selects active, disabled and revoked keys exactly"

begin
api GET "/v2/api-keys?status=ACTIVE_OR_NOT"
want_code 400
end "filter: an unrecognized status is 400"

begin
api GET "/v2/api-keys?search=TENANT"
want_code 200
want 'map(.id) == [$b, $a]' --arg a "$f_tenant_a" --arg b "$f_tenant_b"
api GET "/v2/api-keys?search=ant-al"
want 'map(.id) == [$a]' --arg a "$f_tenant_a"
api GET "/v2/api-keys?search=nomatch"
want 'length == 0'
end "filter: search is a case-insensitive substring of the name, newest first"

begin
api GET "/v2/api-keys?project_id=proj-1"
want_code 200
want 'map(.id) | index($a) != null and index($b) == null' --arg a "$f_tenant_a" --arg b "$f_tenant_b"
api GET "/v2/api-keys?project_id=proj-2&status=API_KEY_STATUS_DISABLED"
want 'map(.id) == [$b]' --arg b "$f_tenant_b"
end "filter: project_id selects keys scoped to that project (and combines with status)"

begin
api GET "/v2/api-keys?source=router"
want_code 200
want 'length == 4 and all(.[]; (.source // "router") == "router")'
api GET /v2/api-keys
want 'length == 4'
end "filter: source=router lists the 4 router keys and no workspace key"

begin
api POST /v2/api-keys '{"name":"Spaced Out Key"}'
spaced=$(jq -r '.id // empty' "$T/body")
api GET "/v2/api-keys?search=D%20OUT%20k"
want_code 200
want 'map(.id) == [$s]' --arg s "$spaced"
api DELETE "/v2/api-keys/$spaced"
end "filter: search values are percent-decoded (D%20OUT%20k finds \"Spaced Out Key\")"

begin
api GET "/v2/api-keys?source=workspace"
want_code 403
want '.error.code == "forbidden" and (.error.message | type == "string")'
end "filter: source=workspace is 403 {error:{code:forbidden}}"

begin
want_that "the admin state names the 3 workspace key ids (got ${#ws_ids[@]})" [ ${#ws_ids[@]} -eq 3 ]
for w in "${ws_ids[@]}"; do
    api GET "/v2/api-keys/$w"
    want_code 403
    want '.error.code == "forbidden"'
    api PATCH "/v2/api-keys/$w" '{"name":"mine-now"}'
    want_code 403
    api DELETE "/v2/api-keys/$w"
    want_code 403
done
end "workspace keys: GET, PATCH and DELETE of each seeded workspace key are 403"

begin
api POST /v2/chat/completions '{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}'
want_code 403
want '.error.code == "forbidden"'
end "a provisioning key cannot call /v2/chat/completions (403)"

# ---------------------------------------------------------------------------------------
# Authentication.

begin
AUTH='' api GET /v2/api-keys
want_code 401
want '.error.code == "invalid_api_key" and (.error.message | type == "string" and length > 0)'
end "auth: no bearer is 401 {error:{code:invalid_api_key,message}}"

begin
AUTH=$WRONG api GET /v2/api-keys
want_code 401
want '.error.code == "invalid_api_key"'
AUTH='' api GET /v2/api-keys '' -H "Authorization: Basic $(printf 'u:%s' "$VALID" | base64)"
want_code 401
end "auth: a wrong bearer (or another scheme) is 401"

begin
AUTH=$DISABLED api GET /v2/api-keys
want_code 401
want '.error.code == "invalid_api_key"'
AUTH=$DISABLED api GET "/v2/api-keys/$f_other"
want_code 401
end "auth: a disabled provisioning key is 401"

begin
AUTH=$REVOKED api GET /v2/api-keys
want_code 403
want '.error.code == "forbidden" and (.error.message | type == "string" and length > 0)'
end "auth: a revoked provisioning key is 403 {error:{code:forbidden,message}}"

begin
api POST /v2/api-keys '{"name":"router-key-as-bearer"}'
rk_token=$(jq -r '.token // empty' "$T/body")
AUTH=${rk_token:-none} api GET /v2/api-keys
want_code 401 403
AUTH=${rk_token:-none} api POST /v2/api-keys '{"name":"made-by-a-router-key"}'
want_code 401 403
end "auth: a router key's own token is no provisioning key (401/403)"

begin
before=$(keycount)
AUTH=$WRONG api POST /v2/api-keys '{"name":"intruder"}'
want_code 401
AUTH=$REVOKED api POST /v2/api-keys '{"name":"intruder"}'
want_code 403
AUTH=$DISABLED api DELETE "/v2/api-keys/$f_other"
want_code 401
AUTH=$WRONG api PATCH "/v2/api-keys/$f_other" '{"name":"pwned"}'
want_code 401
want_that "keys unchanged" [ "$(keycount)" = "$before" ]
api GET "/v2/api-keys/$f_other"
want '.name == "other"'
end "auth: refused writes (wrong, revoked, disabled bearer) change nothing"

# ---------------------------------------------------------------------------------------
# Request log.

begin
admin DELETE /__admin/log
case "$acode" in 200 | 204) ;; *) problem "DELETE /__admin/log -> $acode" ;; esac
api GET "/v2/api-keys?limit=3&search=ten"
AUTH='' api GET /v2/api-keys
AUTH=$WRONG api GET /v2/api-keys
AUTH=$DISABLED api GET /v2/api-keys
AUTH=$REVOKED api GET /v2/api-keys
api POST /v2/api-keys '{"name":"logged-create"}'
admin GET /__admin/log
jq '{entries: [.entries[] | select(.path | startswith("/v2/"))]}' "$T/abody" >"$T/body"
want_code 200
want '.entries | length == 6'
want '.entries[0] | .method == "GET" and .path == "/v2/api-keys" and (.query | contains("limit=3")) and (.query | contains("search=ten")) and .auth == "valid" and .status == 200'
want '[.entries[1:5][] | .auth] == ["missing", "invalid", "disabled", "revoked"]'
want '[.entries[1:5][] | .status] == [401, 401, 401, 403]'
want '.entries[5] | .method == "POST" and .path == "/v2/api-keys" and .status == 200 and (.body | tostring | contains("logged-create"))'
want '[.entries[].seq] as $s | $s == ($s | sort) and ($s | unique | length) == 6'
for secret in "$VALID" "$WRONG" "$DISABLED" "$REVOKED"; do
    want_that "the log contains the bearer $secret" bash -c '! grep -qF -- "$1" "$2"' _ "$secret" "$T/abody"
done
end "log: entries record method, path, query, auth class, status, body and rising seq, never a bearer"

begin
seq3=$(jq -r '.entries[2].seq' "$T/body")
admin GET "/__admin/log?since=$seq3"
jq '{entries: [.entries[] | select(.path | startswith("/v2/"))]}' "$T/abody" >"$T/body"
want_code 200
want '($s | tonumber) as $n | all(.entries[]; .seq >= $n) and ([.entries[] | select(.seq > $n)] | length) == 3' --arg s "$seq3"
admin DELETE /__admin/log
admin GET /__admin/log
jq '{entries: [.entries[] | select(.path | startswith("/v2/"))]}' "$T/abody" >"$T/body"
want '.entries | length == 0'
end "log: ?since=SEQ returns only later entries; DELETE empties the log"

begin
admin GET /__admin/state
r1=$(aj .requests)
api GET /v2/api-keys
api GET /v2/api-keys
admin GET /__admin/state
r2=$(aj .requests)
want_that "state.requests went from $r1 to $r2 after two API calls" [ "$((r2 - r1))" -ge 2 ]
end "state: requests counts the API calls"

begin
reset_stub
admin POST /__admin/seed '{"count":5,"name_prefix":"sleepy-","status":"disabled"}'
want_that "seed answered $acode $(cat "$T/abody")" [ "$(aj .created)" = 5 ]
api GET "/v2/api-keys?status=API_KEY_STATUS_DISABLED"
want 'length == 5 and all(.[]; (.name | startswith("sleepy-")) and .active == false)'
api GET "/v2/api-keys?status=API_KEY_STATUS_ACTIVE"
want 'length == 0'
end "seed: status=disabled seeds disabled keys named with the prefix"
begin
before=$(keycount)
admin POST /__admin/seed '{"count":1,"name":"exact-name"}'
cp "$T/abody" "$T/body"
want_that "seed answered $acode: $(cat "$T/abody")" [ "$acode" = 200 ]
want '.created == 1 and (.first_id | test($re)) and .last_id == .first_id' --arg re "$ULID"
exact_id=$(aj .first_id)
want_that "one key more" [ "$(keycount)" = $((before + 1)) ]
api GET "/v2/api-keys/$exact_id"
want_code 200
want '.id == $id and .name == "exact-name" and .active == true and .status == "API_KEY_STATUS_ACTIVE"' --arg id "$exact_id"
made=$(epoch "$(jq -r .created "$T/body")")
want_that "created '$(jq -r .created "$T/body")' is now" within "$made" $(($(date -u +%s) - 5)) $(($(date -u +%s) + 5))
api GET "/v2/api-keys?search=exact-name"
want 'map(.name) == ["exact-name"]'
api POST /v2/api-keys '{"name":"exact-name"}'
want_code 409
admin POST /__admin/seed '{"count":1,"name":"exact-name"}'
want_that "seeding a taken name again is 409: $acode $(cat "$T/abody")" [ "$acode" = 409 ]
want_that "no key was added by the refused seed" [ "$(keycount)" = $((before + 1)) ]
end "seed: {count:1,name} makes one key with exactly that name (as another client would), its id in first_id/last_id; a taken name is 409"

begin
before=$(keycount)
for b in '{"count":2,"name":"two-of-me"}' '{"count":0,"name":"none-of-me"}' '{"count":1,"name":""}' \
    '{"count":1,"name":42}' "{\"count\":1,\"name\":\"$(printf 'n%.0s' {1..129})\"}" \
    '{"count":1,"name":"both","name_prefix":"p-"}'; do
    admin POST /__admin/seed "$b"
    want_that "seed $b -> $acode (expected 400): $(cat "$T/abody")" [ "$acode" = 400 ]
done
want_that "nothing was created" [ "$(keycount)" = "$before" ]
admin POST /__admin/seed '{"name":"séance, disabled","status":"disabled"}'
want_that "name without count seeds one key: $acode $(cat "$T/abody")" [ "$acode/$(aj .created)" = 200/1 ]
api GET "/v2/api-keys/$(aj .first_id)"
want '.name == "séance, disabled" and .active == false and .status == "API_KEY_STATUS_DISABLED"'
admin POST /__admin/seed '{"count":2,"name_prefix":"pfx-"}'
api GET "/v2/api-keys?search=pfx-"
want 'map(.name) == ["pfx-000002", "pfx-000001"]'
end "seed: name needs count 1 (or none) and a valid 1..128-character name; it takes status; without name the prefix-N names stay"

# ---------------------------------------------------------------------------------------
# Connections and concurrency.

begin
w=$(curl -sS --max-time 10 -o /dev/null -o /dev/null -w '%{num_connects} ' \
    -H "Authorization: Bearer $VALID" "$URL/v2/api-keys?limit=1" "$URL/v2/api-keys?limit=2" 2>"$T/err")
want_that "connections opened per request: '$w' (expected '1 0 ')" [ "$w" = "1 0 " ]
end "keep-alive: a second request reuses the connection"
# date_ok: the last answer has one Date header, an HTTP-date within 5 s of this machine's clock.
date_ok() {
    local d now s
    d=$(hdr Date)
    now=$(date -u +%s)
    s=$(epoch "$d")
    want_that "[$last] one Date header: $(grep -aci '^date:' "$T/hdr")" [ "$(grep -aci '^date:' "$T/hdr")" = 1 ]
    want_that "[$last] Date '$d' is an HTTP-date" \
        bash -c '[[ "$1" =~ ^(Mon|Tue|Wed|Thu|Fri|Sat|Sun),\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ GMT$ ]]' _ "$d"
    want_that "[$last] Date '$d' is now ($now)" within "$s" $((now - 5)) $((now + 5))
}

begin
api GET /v2/api-keys
want_code 200
date_ok
api POST /v2/api-keys '{"name":"dated"}'
want_code 200
date_ok
dated=$(jq -r .id "$T/body")
api PATCH "/v2/api-keys/$dated" '{"name":"dated-2"}'
want_code 200
date_ok
api DELETE "/v2/api-keys/$dated"
want_code 204
date_ok
api GET "/v2/api-keys/$dated"
want_code 404
date_ok
AUTH=$WRONG api POST /v2/api-keys '{"name":"dated-3"}'
want_code 401
date_ok
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"status","status":503,"error_form":"html"}'
api GET /v2/api-keys
want_code 503
date_ok
end "every answer carries a Date header in the service's clock (GET, POST, PATCH, DELETE 204, 404, 401, a fault)"

# par_post NAME_TEMPLATE N P: N creates, P at a time; prints one status per line.
par_post() {
    seq 1 "$2" | xargs -P "$3" -I{} curl -sS --max-time 10 -o /dev/null -w '%{http_code}\n' \
        -H "Authorization: Bearer $VALID" -H 'Content-Type: application/json' \
        --data "{\"name\":\"$1\"}" "$URL/v2/api-keys" 2>/dev/null
}

begin
reset_stub
par_post 'par-{}' 60 10 >"$T/par"
want_that "60 parallel creates: $(sort "$T/par" | uniq -c | tr '\n' ' ')" \
    [ "$(grep -c '^200$' "$T/par")" -eq 60 ]
api GET "/v2/api-keys?limit=200"
want 'length == 60 and (map(.id) | unique | length) == 60 and (map(.name) | unique | length) == 60'
want_that "state.keys is 60" [ "$(keycount)" = 60 ]
end "concurrency: 60 creates, 10 at a time, all succeed with distinct ids"

begin
par_post 'same-name' 12 12 >"$T/par"
want_that "12 racing creates of one name: $(sort "$T/par" | uniq -c | tr '\n' ' ')" \
    [ "$(sort "$T/par" | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')" = "200=1 409=11 " ]
api GET "/v2/api-keys?search=same-name"
want 'length == 1'
end "concurrency: of 12 racing creates of one name exactly one wins, 11 get 409"

# ---------------------------------------------------------------------------------------
# Legacy generation.

reset_stub
begin
generation legacy
want_that "config legacy -> $acode" one_of "$acode" 200 204
admin GET /__admin/state
want_that "state.generation is legacy: $(cat "$T/abody")" [ "$(aj .generation)" = legacy ]
end "legacy: POST /__admin/config switches the generation"

begin
api POST /v2/api-keys '{"name":"old-alpha"}'
want_code 200
want 'keys == ["api_key", "token"]'
want '.api_key.api_key_id | test($re)' --arg re "$ULID"
want '.api_key | has("id") | not'
want '.api_key | has("active") | not'
want '.api_key.name == "old-alpha" and .api_key.status == "API_KEY_STATUS_ACTIVE"'
want '.api_key.created_at | test($re)' --arg re "$RFC3339"
want '.api_key.updated_at | test($re)' --arg re "$RFC3339"
want '.api_key | has("created") or has("updated") | not'
want '.api_key | (.token_prefix | type == "string") and (.permission_mode | type == "string") and (.owner | type == "object") and (.project_scope | type == "object")'
want '.api_key.api_key_id as $id | .token | startswith("sk-orq-" + $id + "-")'
old_secret=$(jq -r '.api_key.api_key_id as $id | .token | ltrimstr("sk-orq-" + $id + "-")' "$T/body" 2>/dev/null)
want '.api_key | tostring | contains($s) | not' --arg s "${old_secret:-unset}"
end "legacy: create answers {api_key:{api_key_id,status,created_at,updated_at,…}, token} with no active"
old=$(jq -r .api_key.api_key_id "$T/body")

begin
api GET "/v2/api-keys/$old"
want_code 200
want 'keys == ["api_key"]'
want '.api_key.api_key_id == $id and .api_key.name == "old-alpha"' --arg id "$old"
want 'tostring | contains($s) | not' --arg s "$old_secret"
end "legacy: get answers {api_key:{…}} and never the secret"

sleep 0.01
old2=$(mk old-beta)
begin
api GET /v2/api-keys
want_code 200
want '.object == "list" and (.data | type == "array") and (.has_more == false)'
want '[.data[].api_key_id] == [$b, $a]' --arg a "$old" --arg b "$old2"
want 'all(.data[]; has("active") | not)'
want 'tostring | contains($s) | not' --arg s "$old_secret"
end "legacy: list answers {object:list,data:[…],has_more}, newest first"

begin
api PATCH "/v2/api-keys/$old" "{\"name\":\"old-renamed\",\"expires_at\":\"$future\"}"
want_code 200
want 'keys == ["api_key"]'
want '.api_key.name == "old-renamed" and .api_key.status == "API_KEY_STATUS_ACTIVE"'
got=$(jq -r '.api_key.expires_at // empty' "$T/body")
want_that "expires_at '$got' is $future" same_time "$got" "$future"
want '.api_key | has("expiration") | not'
api PATCH "/v2/api-keys/$old" '{"status":"API_KEY_STATUS_DISABLED","clear_expires_at":true}'
want_code 200
want '.api_key.status == "API_KEY_STATUS_DISABLED" and (.api_key.expires_at // null) == null and .api_key.name == "old-renamed"'
end "legacy: PATCH answers {api_key:{…}} with expires_at; sparse changes of name, expiry and status"

begin
api POST /v2/api-keys '{"name":"old-restricted","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"deployments":1}}'
want_code 200
want '.api_key.permission_mode == "PERMISSION_MODE_RESTRICTED" and .api_key.access == {"deployments": 1}'
api POST /v2/api-keys '{"name":"old-restricted-2","permission_mode":"PERMISSION_MODE_RESTRICTED","access":{"deployments":"ACCESS_LEVEL_WRITE"}}'
want_code 200
want '.api_key.access == {"deployments": 2}'
generation current
api GET "/v2/api-keys?search=old-restricted"
want 'map(.access.deployments) == ["ACCESS_LEVEL_WRITE", "ACCESS_LEVEL_READ"]'
generation legacy
end "legacy: access levels are integers as SDK 4.11.10 has them (either form accepted; current shows the names)"

begin
api DELETE "/v2/api-keys/$old"
want_code 200
want '. == {}'
api GET "/v2/api-keys/$old"
want_code 404
want '.code == 404 and .source == "system"'
end "legacy: DELETE is 200 {} and the key is gone"

begin
api POST /v2/api-keys '{"name":"old-beta"}'
want_code 409
AUTH=$WRONG api GET /v2/api-keys
want_code 401
want '.error.code == "invalid_api_key"'
end "legacy: errors keep their forms (409 duplicate, 401 wrong bearer)"

# ---------------------------------------------------------------------------------------
# Pagination over 1000 keys (current generation, then legacy has_more).

reset_stub
generation current
admin POST /__admin/seed '{"count":1000,"name_prefix":"page-","status":"active"}'
begin
cp "$T/abody" "$T/body"
want_code 200
want '.created == 1000'
want '(.first_id | test($re)) and (.last_id | test($re))' --arg re "$ULID"
want_that "state.keys is 1000" [ "$(keycount)" = 1000 ]
end "seed: 1000 keys answer {created:1000, first_id, last_id}"
seed_first=$(jq -r .first_id "$T/body")
seed_last=$(jq -r .last_id "$T/body")

: >"$T/walk"
cursor=""
pages=0
sizes=""
walk_err=""
while :; do
    q="?limit=7"
    [ -n "$cursor" ] && q="$q&starting_after=$cursor"
    api GET "/v2/api-keys$q"
    if [ "$code" != 200 ]; then
        walk_err="page $pages: $last"
        break
    fi
    jq -r '.[] | "\(.id) \(.created) \(.name)"' "$T/body" >"$T/page"
    cnt=$(wc -l <"$T/page")
    cat "$T/page" >>"$T/walk"
    pages=$((pages + 1))
    sizes="$sizes $cnt"
    [ "$cnt" -lt 7 ] && break
    cursor=$(tail -n 1 "$T/page" | cut -d' ' -f1)
    if [ "$pages" -gt 300 ]; then
        walk_err="more than 300 pages"
        break
    fi
done
mapfile -t W < <(cut -d' ' -f1 "$T/walk")

begin
want_that "walk error: $walk_err" [ -z "$walk_err" ]
want_that "saw ${#W[@]} keys, expected 1000" [ "${#W[@]}" -eq 1000 ]
want_that "saw $(printf '%s\n' "${W[@]}" | sort -u | wc -l) distinct keys" \
    [ "$(printf '%s\n' "${W[@]}" | sort -u | wc -l)" -eq 1000 ]
want_that "143 pages, got $pages" [ "$pages" -eq 143 ]
want_that "every page but the last has 7 keys:$sizes" \
    [ "$(echo "$sizes" | tr ' ' '\n' | grep -c '^7$')" -eq 142 ]
want_that "all names start with page-" [ "$(cut -d' ' -f3 "$T/walk" | grep -vc '^page-')" -eq 0 ]
end "pagination: limit=7 with starting_after walks 1000 keys in 143 pages, each once"

begin
want_that "first key seen '${W[0]:-}' is last_id '$seed_last'" same_word "${W[0]:-}" "$seed_last"
want_that "last key seen '${W[999]:-}' is first_id '$seed_first'" same_word "${W[999]:-}" "$seed_first"
want_that "created times do not increase along the walk" non_increasing_times "$T/walk"
end "pagination: the walk runs newest first (last_id first, first_id last, created non-increasing)"

begin
api GET "/v2/api-keys?limit=7&ending_before=${W[14]:-}"
want_code 200
want 'map(.id) == $w' --argjson w "$(printf '%s\n' "${W[@]:7:7}" | jq -R . | jq -sc .)"
api GET "/v2/api-keys?limit=7&ending_before=${W[3]:-}"
want 'map(.id) == $w' --argjson w "$(printf '%s\n' "${W[@]:0:3}" | jq -R . | jq -sc .)"
api GET "/v2/api-keys?limit=7&ending_before=${W[0]:-}"
want_code 200
want 'length == 0'
end "pagination: ending_before returns the newer keys just before the cursor, newest first"

begin
api GET "/v2/api-keys?limit=7&starting_after=${W[999]:-}"
want_code 200
want 'length == 0'
api GET "/v2/api-keys?limit=3&starting_after=${W[500]:-}"
want 'map(.id) == $w' --argjson w "$(printf '%s\n' "${W[@]:501:3}" | jq -R . | jq -sc .)"
end "pagination: starting_after the oldest key is an empty page; mid-list cursors are exact"

begin
api GET /v2/api-keys
want_code 200
want 'length == 25'
api GET "/v2/api-keys?limit=200"
want 'length == 200'
api GET "/v2/api-keys?limit=1"
want 'length == 1 and .[0].id == $f' --arg f "${W[0]:-}"
end "pagination: default limit is 25; 1 and 200 are accepted"

begin
for l in 0 201 abc -1; do
    api GET "/v2/api-keys?limit=$l"
    want_code 400
    want '.code == "invalid_argument"'
done
end "pagination: limit 0, 201, abc and -1 are 400 {code:invalid_argument}"

begin
generation legacy
api GET "/v2/api-keys?limit=7"
want_code 200
want '(.data | length) == 7 and .has_more == true and .data[0].api_key_id == $f' --arg f "${W[0]:-}"
api GET "/v2/api-keys?limit=7&starting_after=${W[992]:-}"
want '(.data | length) == 7 and .has_more == false and .data[6].api_key_id == $l' --arg l "${W[999]:-}"
api GET "/v2/api-keys?limit=7&starting_after=${W[991]:-}"
want '(.data | length) == 7 and .has_more == true'
api GET "/v2/api-keys?limit=7&starting_after=${W[999]:-}"
want '.data == [] and .has_more == false'
generation current
end "pagination (legacy): has_more is true exactly while keys remain"

# ---------------------------------------------------------------------------------------
# Faults.

reset_stub
disarm
fk=$(mk fault-target)

# status faults, one per error form.
declare -A form_check=(
    [object]='.error.message == "boom" and (.error.code | type == "string")'
    [code_error]='.error == "boom" and (.code == 503 or .code == "503" or (.code | type == "string"))'
    [plain]='. == {"error": "boom"}'
    [code_message]='.message == "boom" and (.code | type == "string")'
)
for form in object code_error plain code_message; do
    begin
    arm "{\"method\":\"GET\",\"path\":\"/v2/api-keys\",\"count\":1,\"kind\":\"status\",\"status\":503,\"error_form\":\"$form\",\"message\":\"boom\"}"
    api GET /v2/api-keys
    want_code 503
    want "${form_check[$form]}"
    want_that "content type $(hdr Content-Type) is JSON" bash -c '[[ "$1" == application/json* ]]' _ "$(hdr Content-Type)"
    api GET /v2/api-keys
    want_code 200
    end "fault status/$form: 503 with the message in the $form body, once"
done

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"status","status":502,"error_form":"html","message":"boom"}'
api GET /v2/api-keys
want_code 502
want_that "content type $(hdr Content-Type) is text/html" bash -c '[[ "$1" == text/html* ]]' _ "$(hdr Content-Type)"
want_that "body is HTML" grep -qi '<html' "$T/body"
want_that "body is not JSON" bash -c '! jq -e . "$1" >/dev/null 2>&1' _ "$T/body"
end "fault status/html: 502 with an HTML page"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"status","status":504,"error_form":"empty"}'
api GET /v2/api-keys
want_code 504
want_that "empty body (size $size)" [ "$size" = 0 ]
end "fault status/empty: 504 with an empty body"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"status","status":429,"error_form":"object","message":"slow down","retry_after":"7"}'
api GET /v2/api-keys
want_code 429
want_that "Retry-After is '$(hdr Retry-After)'" [ "$(hdr Retry-After)" = 7 ]
want '.error.message == "slow down"'
end "fault status/retry_after: 429 with Retry-After: 7 verbatim"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"status","status":429,"retry_after_date":120}'
now=$(date -u +%s)
api GET /v2/api-keys
want_code 429
ra=$(hdr Retry-After)
want_that "Retry-After '$ra' is an HTTP date" \
    bash -c '[[ "$1" =~ ^[A-Z][a-z]{2},\ [0-9]{2}\ [A-Z][a-z]{2}\ [0-9]{4}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ GMT$ ]]' _ "$ra"
ra_s=$(epoch "$ra")
want_that "Retry-After '$ra' is about 120 s from now" within "$ra_s" $((now + 115)) $((now + 125))
end "fault status/retry_after_date: 429 with Retry-After as an HTTP date 120 s ahead"

begin
before=$(keycount)
arm '{"method":"POST","path":"/v2/api-keys","count":1,"kind":"status","status":500,"error_form":"object","message":"lost","apply":true}'
api POST /v2/api-keys '{"name":"applied-anyway"}'
want_code 500
api GET "/v2/api-keys?search=applied-anyway"
want 'length == 1 and .[0].name == "applied-anyway"'
want_that "one key more" [ "$(keycount)" = $((before + 1)) ]
arm '{"method":"POST","path":"/v2/api-keys","count":1,"kind":"status","status":500,"error_form":"object","message":"lost"}'
api POST /v2/api-keys '{"name":"not-applied"}'
want_code 500
api GET "/v2/api-keys?search=not-applied"
want 'length == 0'
end "fault status/apply: apply=true creates the key and still answers 500; without apply nothing is created"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"delay_headers","ms":800}'
api GET /v2/api-keys
want_code 200
want 'type == "array"'
want_that "first byte after ${t_first}s (>= 0.75)" ge "$t_first" 0.75
want_that "total ${t_total}s (< 3)" lt "$t_total" 3
api GET /v2/api-keys
want_that "next request fast: ${t_total}s" lt "$t_total" 0.5
end "fault delay_headers: the answer starts ~800 ms late, once"

begin
admin POST /__admin/seed '{"count":50,"name_prefix":"bulk-","status":"active"}'
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"delay_body","ms":800}'
api GET "/v2/api-keys?limit=50"
want_code 200
want 'type == "array" and length == 50'
want_that "total ${t_total}s (>= 0.75)" ge "$t_total" 0.75
want_that "first byte at ${t_first}s well before the end at ${t_total}s" \
    awk -v f="$t_first" -v t="$t_total" 'BEGIN { exit !(t - f >= 0.6) }'
end "fault delay_body: half the body, an 800 ms pause, the rest (complete JSON)"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"reset"}'
api GET "/v2/api-keys?limit=50"
want_that "curl reports a transfer error (rc $crc: $(cat "$T/err"))" [ "$crc" -ne 0 ]
want_that "the body is incomplete JSON" bash -c '! jq -e . "$1" >/dev/null 2>&1' _ "$T/body"
before=$(keycount)
arm '{"method":"POST","path":"/v2/api-keys","count":1,"kind":"reset"}'
api POST /v2/api-keys '{"name":"created-then-reset"}'
want_that "curl reports a transfer error on POST (rc $crc)" [ "$crc" -ne 0 ]
api GET "/v2/api-keys?search=created-then-reset"
want 'length == 1'
end "fault reset: performs the call, sends half the body, drops the connection"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"truncate"}'
api GET "/v2/api-keys?limit=50"
want_code 200
want_that "curl completes (rc $crc)" [ "$crc" -eq 0 ]
want_that "body is not empty" [ "${size:-0}" -gt 2 ]
want_that "jq fails on the truncated body" bash -c '! jq -e . "$1" >/dev/null 2>&1' _ "$T/body"
arm '{"method":"POST","path":"/v2/api-keys","count":1,"kind":"truncate"}'
api POST /v2/api-keys '{"name":"created-then-truncated"}'
want_code 200
want_that "POST answer is not JSON" bash -c '! jq -e . "$1" >/dev/null 2>&1' _ "$T/body"
api GET "/v2/api-keys?search=created-then-truncated"
want 'length == 1'
end "fault truncate: a complete response whose JSON is cut (the call was performed)"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"html"}'
api GET /v2/api-keys
want_code 200
want_that "content type $(hdr Content-Type) is text/html" bash -c '[[ "$1" == text/html* ]]' _ "$(hdr Content-Type)"
want_that "body is HTML" grep -qi '<html' "$T/body"
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"html","status":503}'
api GET /v2/api-keys
want_code 503
want_that "body is not JSON" bash -c '! jq -e . "$1" >/dev/null 2>&1' _ "$T/body"
end "fault html: an HTML page with status 200 by default, or the status given"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"oversized","bytes":3000000}'
MAXT=20 api GET /v2/api-keys
want_code 200
want_that "size $size >= 3000000" [ "${size:-0}" -ge 3000000 ]
want_that "the big body is valid JSON" jq -e . "$T/body" >/dev/null 2>&1
end "fault oversized: valid JSON of at least the requested size"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"invalid_utf8"}'
api GET "/v2/api-keys?limit=5"
want_code 200
want_that "iconv rejects the body" bash -c '! iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1' _ "$T/body"
arm '{"method":"GET","path":"/v2/api-keys/","count":1,"kind":"invalid_utf8"}'
api GET "/v2/api-keys/$fk"
want_code 200
want_that "iconv rejects the get body" bash -c '! iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1' _ "$T/body"
api GET "/v2/api-keys/$fk"
want_that "the next body is clean UTF-8" iconv -f UTF-8 -t UTF-8 "$T/body" -o /dev/null
end "fault invalid_utf8: names carry invalid UTF-8 (list and get)"

begin
arm '{"method":"GET","path":"/v2/api-keys/","count":1,"kind":"wrong_types"}'
api GET "/v2/api-keys/$fk"
want_code 200
want '(.id | type) == "number"'
want '.active == "yes"'
want '(.name | type) == "object"'
want '(.created | type) == "number"'
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"wrong_types"}'
api GET "/v2/api-keys?limit=3"
want 'type == "array" and length > 0 and ((.[0].id | type) == "number") and .[0].active == "yes"'
end "fault wrong_types: id is a number, active \"yes\", name an object, created a number"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"raw","status":418,"content_type":"text/plain; charset=us-ascii","body":"short and stout"}'
api GET /v2/api-keys
want_code 418
want_that "content type '$(hdr Content-Type)'" [ "$(hdr Content-Type)" = "text/plain; charset=us-ascii" ]
want_that "body verbatim: '$(cat "$T/body")'" [ "$(cat "$T/body")" = "short and stout" ]
end "fault raw: status, content type and body verbatim"

begin
arm '{"method":"GET","path":"/v2/api-keys","skip":1,"count":2,"kind":"status","status":503,"error_form":"object","message":"x"}'
seen=""
for i in 1 2 3 4; do
    api GET /v2/api-keys
    seen="$seen $code"
done
want_that "statuses:$seen (expected 200 503 503 200)" [ "$seen" = " 200 503 503 200" ]
end "fault skip/count: skip=1 count=2 spares one request, fails the next two, then stops"

begin
arm '{"method":"GET","path":"/v2/api-keys","count":-1,"kind":"status","status":500,"error_form":"plain","message":"x"}'
admin GET /__admin/state
armed=$(aj '.faults_armed | if type == "array" then length else . end')
want_that "faults_armed is 1 (got $armed)" [ "$armed" = 1 ]
seen=""
for i in 1 2 3 4 5; do
    api GET /v2/api-keys
    seen="$seen $code"
done
want_that "statuses:$seen (expected 500 ×5)" [ "$seen" = " 500 500 500 500 500" ]
disarm
want_that "DELETE /__admin/faults -> $acode" one_of "$acode" 200 204
admin GET /__admin/state
armed=$(aj '.faults_armed | if type == "array" then length else . end')
want_that "faults_armed is 0 after DELETE (got $armed)" [ "$armed" = 0 ]
api GET /v2/api-keys
want_code 200
end "fault count=-1: fails every matching request until DELETE /__admin/faults"

begin
arm '{"method":"GET","path":"/v2/api-keys","query_contains":"search=boom","count":-1,"kind":"status","status":500,"error_form":"plain","message":"x"}'
api GET "/v2/api-keys?search=calm"
want_code 200
api GET /v2/api-keys
want_code 200
api GET "/v2/api-keys?limit=5&search=boom"
want_code 500
disarm
end "fault query_contains: only requests whose query contains the text are hit"

begin
arm '{"method":"POST","path":"/v2/api-keys","count":-1,"kind":"status","status":500,"error_form":"plain","message":"x"}'
arm '{"method":"GET","path":"/v2/api-keys/","count":-1,"kind":"status","status":502,"error_form":"plain","message":"y"}'
api GET /v2/api-keys
want_code 200
api POST /v2/api-keys '{"name":"method-filter"}'
want_code 500
api GET "/v2/api-keys/$fk"
want_code 502
api PATCH "/v2/api-keys/$fk" '{"name":"fault-target"}'
want_code 200
admin GET /__admin/state
armed=$(aj '.faults_armed | if type == "array" then length else . end')
want_that "faults_armed is 2 (got $armed)" [ "$armed" = 2 ]
disarm
end "fault matching: method and path prefix select the requests (2 faults armed at once)"

begin
admin DELETE /__admin/log
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"status","status":503,"error_form":"object","message":"x"}'
api GET /v2/api-keys
api GET /v2/api-keys
admin GET /__admin/log
jq '{entries: [.entries[] | select(.path | startswith("/v2/"))]}' "$T/abody" >"$T/body"
want '.entries | length == 2'
want '.entries[0].status == 503 and (.entries[0].fault | . != null and . != false and . != "")'
want '.entries[1].status == 200 and (.entries[1].fault | . == null or . == false or . == "")'
end "log: a faulted request is marked with its fault"
# drop: the call is carried out, then the connection closes without a byte of the answer.
# The log records the status the API produced for it (200 here), marked with fault "drop".
begin
disarm
admin DELETE /__admin/log
before=$(keycount)
arm '{"method":"POST","path":"/v2/api-keys","count":1,"kind":"drop"}'
api POST /v2/api-keys '{"name":"dropped-fresh"}'
want_that "curl reports an empty reply (rc $crc, expected 52: $(cat "$T/err"))" [ "$crc" -eq 52 ]
want_that "not a byte of the answer (size $size, headers: $(head -c 200 "$T/hdr" 2>/dev/null))" \
    bash -c '[ "$1" -eq 0 ] && [ ! -s "$2" ]' _ "${size:-0}" "$T/hdr"
api GET "/v2/api-keys?search=dropped-fresh"
want 'length == 1 and .[0].name == "dropped-fresh"'
want_that "one key more ($before before)" [ "$(keycount)" = $((before + 1)) ]
admin GET /__admin/log
jq '{entries: [.entries[] | select(.method == "POST" and .path == "/v2/api-keys")]}' "$T/abody" >"$T/body"
want '.entries | length == 1'
want '.entries[0] | .fault == "drop" and .status == 200 and (.body | tostring | contains("dropped-fresh"))'
end "fault drop: on a fresh connection the create is performed and curl gets an empty reply (52)"

begin
disarm
admin DELETE /__admin/log
before=$(keycount)
arm '{"method":"POST","path":"/v2/api-keys","count":1,"kind":"drop"}'
curl --no-progress-meter --max-time 10 -o /dev/null -w '%{http_code} %{num_connects}\n' \
    -H "Authorization: Bearer $VALID" "$URL/v2/api-keys?limit=1" \
    --next --no-progress-meter --max-time 10 -o /dev/null -w '%{http_code} %{num_connects}\n' \
    -H "Authorization: Bearer $VALID" -H 'Content-Type: application/json' \
    --data '{"name":"dropped-reused"}' "$URL/v2/api-keys" >"$T/drop" 2>"$T/err"
drc=$?
mapfile -t dl <"$T/drop"
want_that "the first request opened the connection and got 200: '${dl[0]:-}'" [ "${dl[0]:-}" = "200 1" ]
admin GET /__admin/log
jq '{entries: [.entries[] | select(.path | startswith("/v2/"))]}' "$T/abody" >"$T/body"
want '.entries[0] | .method == "GET" and .status == 200 and .fault == null'
want '.entries[1] | .method == "POST" and .fault == "drop" and .status == 200 and (.body | tostring | contains("dropped-reused"))'
if [ "$drc" -eq 52 ]; then
    # curl gave up: the POST went out on the kept-alive connection and got nothing.
    want_that "the POST reused the connection and got no status: '${dl[1]:-}'" [ "${dl[1]:-}" = "000 0" ]
    want '.entries | length == 2'
else
    # curl saw the reused connection die before any byte and sent the POST again on a fresh
    # connection; the name is taken by then, because the dropped request created the key.
    want_that "curl re-sent the POST (rc $drc, expected 0 or 52: $(cat "$T/err"))" [ "$drc" -eq 0 ]
    want_that "the re-sent POST opened a new connection and got 409: '${dl[1]:-}'" [ "${dl[1]:-}" = "409 1" ]
    want '.entries | length == 3'
    want '.entries[2] | .method == "POST" and .status == 409 and .fault == null and (.body | tostring | contains("dropped-reused"))'
fi
api GET "/v2/api-keys?search=dropped-reused"
want 'length == 1 and .[0].name == "dropped-reused"'
want_that "one key more ($before before)" [ "$(keycount)" = $((before + 1)) ]
end "fault drop: on a kept-alive connection the dropped create still made its key (curl rc $drc: empty reply, or its silent re-send got 409)"

# The same on a raw socket: one answer for the first request, then end of stream.
begin
disarm
admin DELETE /__admin/log
before=$(keycount)
hp=${URL#http://}
hp=${hp%%/*}
rbody='{"name":"dropped-raw"}'
arm '{"method":"POST","path":"/v2/api-keys","count":1,"kind":"drop"}'
: >"$T/raw"
rrc=x
if exec {sock}<>"/dev/tcp/${hp%:*}/${hp##*:}"; then
    printf 'GET /v2/api-keys?limit=1 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n' \
        "$hp" "$VALID" >&"$sock"
    sleep 0.3
    printf 'POST /v2/api-keys HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
        "$hp" "$VALID" "${#rbody}" "$rbody" >&"$sock"
    timeout 5 cat <&"$sock" >"$T/raw"
    rrc=$?
    exec {sock}>&-
else
    problem "cannot open a socket to $hp"
fi
rhead=$(sed -n '1,/^\r$/p' "$T/raw" | wc -c)
rlen=$(sed -n '1,/^\r$/p' "$T/raw" | grep -i '^content-length:' | tr -dc '0-9')
rsize=$(wc -c <"$T/raw")
want_that "the server closed the connection (cat rc $rrc, 124 is a timeout)" [ "$rrc" = 0 ]
want_that "exactly one status line, 200: $(grep -a '^HTTP/' "$T/raw" | tr -d '\r' | tr '\n' '|')" \
    bash -c '[ "$(grep -ac "^HTTP/1\.[01] " "$1")" = 1 ] && head -n 1 "$1" | grep -q "^HTTP/1\.1 200 "' _ "$T/raw"
want_that "nothing after the first answer: $rsize bytes read = $rhead header bytes + ${rlen:-?} body bytes" \
    [ "$rsize" -eq "$((rhead + ${rlen:-1000000}))" ]
admin GET /__admin/log
jq '{entries: [.entries[] | select(.path | startswith("/v2/"))]}' "$T/abody" >"$T/body"
want '[.entries[] | [.method, .status, .fault]] == [["GET", 200, null], ["POST", 200, "drop"]]'
api GET "/v2/api-keys?search=dropped-raw"
want 'length == 1 and .[0].name == "dropped-raw"'
want_that "one key more ($before before)" [ "$(keycount)" = $((before + 1)) ]
end "fault drop: a raw keep-alive connection gets the first answer, then end of stream with zero bytes of the second"

# members: raw JSON member text spliced into every key object, never through a JSON parser.
MEMBERS='"x_exact":{"dec":1.10,"big":123456789012345678901234567890,"neg":-0.000000000000000000001}'
members_fault() {
    arm "$(jq -nc --arg k "$1" --arg m "$MEMBERS" --arg meth "$2" --argjson n "$3" \
        '{kind: $k, method: $meth, path: "/v2/api-keys", count: $n, members: $m}')"
}
# spliced PREFIX: how many times PREFIX immediately followed by "MEMBERS," is in the body.
spliced() { grep -oF -- "$1$MEMBERS," "$T/body" | wc -l; }

begin
disarm
members_fault extra GET 2
api GET "/v2/api-keys/$fk"
want_code 200
want_that "the get body has {$MEMBERS, verbatim: $(head -c 200 "$T/body")" [ "$(spliced '{')" = 1 ]
want_that 'raw bytes "dec":1.10' grep -qF '"dec":1.10,' "$T/body"
want_that "raw 30-digit integer" grep -qF '"big":123456789012345678901234567890,' "$T/body"
want '.id == $id and .name == "fault-target" and (.x_exact | has("dec") and has("big") and has("neg"))' --arg id "$fk"
api GET "/v2/api-keys?limit=3"
want_code 200
want 'type == "array" and length == 3 and all(.[]; .x_exact.dec == 1.1 and (.id | type == "string"))'
nk=$(jq length "$T/body")
want_that "every one of the $nk key objects starts with the members ($(spliced '{') found)" [ "$(spliced '{')" = "$nk" ]
want_that "the list starts [{members," [ "$(spliced '[{')" = 1 ]
api GET "/v2/api-keys/$fk"
want 'has("x_exact") | not'
end "fault extra + members (current): raw member text right after the brace of a get's key object and of every listed one, once per count"

begin
generation legacy
members_fault extra GET 2
api GET "/v2/api-keys/$fk"
want_code 200
want_that "the get body is {\"api_key\":{members,…: $(head -c 200 "$T/body")" [ "$(spliced '{"api_key":{')" = 1 ]
want_that 'raw bytes "dec":1.10 and the 30-digit integer' \
    grep -qF '"dec":1.10,"big":123456789012345678901234567890,' "$T/body"
want 'keys == ["api_key"] and .api_key.api_key_id == $id and .api_key.x_exact.dec == 1.1' --arg id "$fk"
api GET "/v2/api-keys?limit=3"
want_code 200
want '.object == "list" and (.data | length) == 3 and has("x_exact") == false and all(.data[]; .x_exact.dec == 1.1)'
want_that "every key object in data starts with the members ($(spliced '{') found)" [ "$(spliced '{')" = 3 ]
want_that 'the list has "data":[{members,' [ "$(spliced '"data":[{')" = 1 ]
generation current
end "fault extra + members (legacy): raw member text inside api_key and in every object of data"

begin
members_fault extra POST 1
api POST /v2/api-keys '{"name":"created-with-members"}'
want_code 200
want_that "the create answer starts {members,: $(head -c 200 "$T/body")" [ "$(spliced '{')" = 1 ]
want '.name == "created-with-members" and (.token | startswith("sk-orq-"))'
members_fault wrong_types GET 1
api GET "/v2/api-keys?limit=2"
want_code 200
want_that "members survive the json-c round trip of wrong_types verbatim ($(spliced '{') of 2): $(head -c 200 "$T/body")" \
    [ "$(spliced '{')" = 2 ]
want 'all(.[]; (.id | type) == "number" and .active == "yes")'
want_that "no placeholder is left" bash -c '! grep -qF "rkstub-members" "$1"' _ "$T/body"
members_fault reset GET 1
api GET "/v2/api-keys?limit=50"
want_that "reset still cuts the answer (rc $crc)" [ "$crc" -ne 0 ]
want_that "the half that arrived starts [{members," [ "$(spliced '[{')" = 1 ]
admin POST /__admin/faults "$(jq -nc --arg m "$MEMBERS" '{kind: "html", members: $m}')"
want_that "members on a fault that does not perform is refused: $acode $(cat "$T/abody")" [ "$acode" = 400 ]
admin POST /__admin/faults '{"kind":"extra","members":42}'
want_that "members that are not a string are refused: $acode" [ "$acode" = 400 ]
disarm
end "fault members: also in a create's answer, verbatim through wrong_types, with reset; refused on html and as a non-string"

# Retry-After is sent exactly as given.
begin
arm '{"method":"GET","path":"/v2/api-keys","count":1,"kind":"status","status":429,"retry_after":"1e400"}'
api GET /v2/api-keys
want_code 429
ra_line=$(grep -ai '^retry-after:' "$T/hdr" | sed 's/\r$//')
want_that "header line '$ra_line' is exactly 'Retry-After: 1e400'" [ "$ra_line" = "Retry-After: 1e400" ]
want_that "one Retry-After header" [ "$(grep -aci '^retry-after:' "$T/hdr")" = 1 ]
end "fault status/retry_after: 429 sends exactly Retry-After: 1e400"

begin
for v in inf 0x10 -1 '  5 ' 'Wed, 21 Oct 2015 07:28:00 GMT' '-0' '3.5' '999999999999999999999'; do
    arm "$(jq -nc --arg v "$v" '{method: "GET", path: "/v2/api-keys", count: 1, kind: "status", status: 429, retry_after: $v}')"
    api GET /v2/api-keys
    want_code 429
    ra_line=$(grep -ai '^retry-after:' "$T/hdr" | sed 's/\r$//')
    want_that "retry_after '$v' sent as '$ra_line'" [ "$ra_line" = "Retry-After: $v" ]
done
for v in '' $'1\r\nX-Injected: 1'; do
    admin POST /__admin/faults "$(jq -nc --arg v "$v" '{kind: "status", status: 429, retry_after: $v}')"
    want_that "retry_after $(jq -nc --arg v "$v" '$v') is refused (cannot be sent): $acode" [ "$acode" = 400 ]
done
disarm
end "fault status/retry_after: odd values (inf, 0x10, -1, '  5 ', an HTTP date, …) pass verbatim; empty or CR/LF is refused"

begin
admin POST /__admin/config '{"latency_ms":300}'
admin GET /__admin/state
want_that "state.latency_ms is 300: $(cat "$T/abody")" [ "$(aj .latency_ms)" = 300 ]
want_that "generation unchanged by a latency-only config" [ "$(aj .generation)" = current ]
api GET "/v2/api-keys/$fk"
want_code 200
want_that "request took ${t_total}s (>= 0.28)" ge "$t_total" 0.28
api GET /v2/api-keys
want_that "request took ${t_total}s (>= 0.28)" ge "$t_total" 0.28
admin POST /__admin/config '{"latency_ms":0}'
api GET /v2/api-keys
want_that "back to fast: ${t_total}s" lt "$t_total" 0.25
end "config latency_ms: every request is delayed by it, and 0 removes it"

# ---------------------------------------------------------------------------------------
# Bulk seeding.

begin
reset_stub
MAXT=30 admin POST /__admin/seed '{"count":100000,"name_prefix":"bulk-","status":"active"}'
want_that "seed answered $acode: $(head -c 200 "$T/abody")" [ "$acode" = 200 ]
want_that "created $(aj .created)" [ "$(aj .created)" = 100000 ]
want_that "seeding took ${t_total}s (<= 1.5)" lt "$t_total" 1.5
seed_time=$t_total
want_that "state.keys is 100000" [ "$(keycount)" = 100000 ]
end "seed: 100000 keys in about a second (took ${seed_time}s)"

begin
oldest=$(aj .first_id 2>/dev/null)
api GET "/v2/api-keys?limit=200"
want_code 200
want 'length == 200'
want_that "a first page over 100000 keys in ${t_total}s (< 1)" lt "$t_total" 1
api GET "/v2/api-keys?limit=5&search=99999"
want_code 200
want 'length == 1 and (.[0].name | startswith("bulk-") and contains("99999"))'
want_that "a search over 100000 keys in ${t_total}s (< 1)" lt "$t_total" 1
end "seed: lists and searches stay fast over 100000 keys"
reset_stub

# ---------------------------------------------------------------------------------------
# HTTPS, and the command line (--generation, --key, --latency-ms, --port-file).

begin
tls=$T/tls
mkdir -p "$tls"
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$tls/key.pem" -out "$tls/cert.pem" >"$tls/openssl.log" 2>&1; then
    problem "openssl: $(cat "$tls/openssl.log")"
fi
"$BIN" --port 0 --port-file "$tls/port" --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem" \
    --generation legacy --latency-ms 150 --key valid=rk-check-tls-token >"$tls/out" 2>&1 &
tls_pid=$!
for _ in $(seq 50); do
    [ -s "$tls/port" ] && break
    sleep 0.1
done
tport=$(cat "$tls/port" 2>/dev/null)
want_that "the TLS stub wrote its port ($(cat "$tls/out"))" [ -n "$tport" ]
sleep 0.1
want_that "it printed 'listening on 127.0.0.1:$tport': $(cat "$tls/out")" grep -q "listening on 127.0.0.1:$tport" "$tls/out"
end "cli: a second stub starts on a kernel-chosen port, prints and writes it"

tls_get() {
    curl -sS --max-time 10 -o "$T/body" -w '%{http_code} %{time_total}' "$@" 2>"$T/err"
}

begin
w=$(tls_get --cacert "$tls/cert.pem" -H 'Authorization: Bearer rk-check-tls-token' \
    "https://127.0.0.1:$tport/v2/api-keys")
rc=$?
last="https GET /v2/api-keys -> $w rc $rc $(cat "$T/err")"
code=${w%% *}
want_code 200
want '.object == "list" and .data == [] and .has_more == false'
end "https: GET through the TLS stub with --cacert answers (in --generation legacy)"

begin
w=$(tls_get --cacert "$tls/cert.pem" -X POST -H 'Authorization: Bearer rk-check-tls-token' \
    -H 'Content-Type: application/json' --data '{"name":"over-tls"}' "https://127.0.0.1:$tport/v2/api-keys")
code=${w%% *}
ttime=${w#* }
last="https POST -> $w $(cat "$T/err")"
want_code 200
want '.api_key.name == "over-tls" and (.token | startswith("sk-orq-"))'
want_that "--latency-ms 150: took ${ttime}s" ge "$ttime" 0.14
w=$(tls_get --cacert "$tls/cert.pem" -H "Authorization: Bearer $WRONG" "https://127.0.0.1:$tport/v2/api-keys")
code=${w%% *}
want_code 401
w=$(tls_get --cacert "$tls/cert.pem" "https://127.0.0.1:$tport/__admin/state")
code=${w%% *}
want '.generation == "legacy" and .latency_ms == 150'
end "cli: --key valid=TOKEN, --generation legacy and --latency-ms 150 take effect"

begin
tls_get -H 'Authorization: Bearer rk-check-tls-token' "https://127.0.0.1:$tport/v2/api-keys" >/dev/null
rc=$?
want_that "without the CA curl must refuse the certificate (rc $rc, expected 60)" [ "$rc" -eq 60 ]
w=$(tls_get -H 'Authorization: Bearer rk-check-tls-token' "http://127.0.0.1:$tport/v2/api-keys")
rc=$?
want_that "plain HTTP to the TLS port is no 200 (got ${w%% *}, rc $rc)" [ "${w%% *}" != 200 ]
end "https: the certificate is the one given (verification fails without the CA; no plain HTTP)"

kill "$tls_pid" 2>/dev/null
wait "$tls_pid" 2>/dev/null
tls_pid=""

# ---------------------------------------------------------------------------------------
# Down periods (POST /__admin/down), on a stub of their own: refused connections, a closed
# kept-alive connection, the same port and all the state afterwards, and SIGTERM meanwhile.

# now: seconds since the epoch, with a fraction.
now() { date +%s.%N; }

# since T: seconds elapsed since T (a now).
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }

# proc_state PID: the state letter of a process (Z once it has exited), or nothing.
proc_state() { awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null; }

# read_answer FD: reads one HTTP answer with a Content-Length from FD into answer.
read_answer() {
    local line len=0
    answer=""
    IFS= read -r -t 5 -u "$1" line || return 1
    answer=$line
    while IFS= read -r -t 5 -u "$1" line && [ "$line" != $'\r' ]; do
        case ${line,,} in content-length:*) len=${line#*:} len=${len//[!0-9]/} ;; esac
    done
    [ "$len" -gt 0 ] || return 0
    IFS= read -r -t 5 -N "$len" -u "$1" line || return 1
    answer+=$'\n'$line
}

begin
dstub=$T/down
mkdir -p "$dstub"
"$BIN" --port 0 --port-file "$dstub/port" --quiet >"$dstub/out" 2>&1 &
down_pid=$!
for _ in $(seq 50); do
    [ -s "$dstub/port" ] && break
    sleep 0.1
done
dport=$(cat "$dstub/port" 2>/dev/null)
want_that "the down stub wrote its port ($(cat "$dstub/out"))" [ -n "$dport" ]
DURL=http://127.0.0.1:$dport
for b in '{"seconds":0}' '{"seconds":"x"}' '{"seconds":601}' '{"seconds":1.5}' '{}' ''; do
    URL=$DURL admin POST /__admin/down "$b"
    want_that "$last: expected 400 {error} $(cat "$T/abody")" \
        jq -e '.error | type == "string" and length > 0' "$T/abody" >/dev/null
    want_that "$last: expected 400" [ "$acode" = 400 ]
done
URL=$DURL admin GET /__admin/down
want_that "GET /__admin/down: expected 405, got $acode" [ "$acode" = 405 ]
URL=$DURL admin GET /__admin/state
want_that "still up after them: $acode" [ "$acode" = 200 ]
end "down: seconds 0, \"x\", 601, 1.5 or none is 400 {error} and changes nothing; GET is 405"

begin
survivor=$(URL=$DURL mk survivor)
want_that "created a key before going down: '$survivor'" [ -n "$survivor" ]
URL=$DURL admin POST /__admin/config '{"unique_names":false}'
URL=$DURL arm '{"path":"/v2/never","kind":"status","status":503,"count":-1}'
URL=$DURL admin GET /__admin/state
requests_before=$(aj .requests)
ka=""
answer=""
if { exec {ka}<>"/dev/tcp/127.0.0.1/$dport"; } 2>"$T/err"; then
    printf 'GET /__admin/state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&"$ka"
    read_answer "$ka"
fi
ka_answered=0
grep -q '"workspace_keys"' <<<"$answer" && ka_answered=1
want_that "a kept-alive connection is answered before: ${answer:0:200} $(cat "$T/err")" \
    [ "$ka_answered" = 1 ]
URL=$DURL admin POST /__admin/down '{"seconds":2}'
t_down=$(now)
cp "$T/abody" "$T/body"
want_code 200
want '.ok == true and .seconds == 2'
end "down: {\"seconds\":2} answers 200 {ok:true,seconds:2}"

begin
if [ "$ka_answered" = 1 ]; then
    read -r -t 3 -N 1 -u "$ka" _
    rc=$?
    exec {ka}<&-
    want_that "the kept-alive connection ends (read rc $rc: 1 is end of file, > 128 a timeout)" \
        [ "$rc" = 1 ]
else
    problem "no kept-alive connection was open before the call"
fi
end "down: a kept-alive connection opened before the call is closed by the stub"

begin
curl -sS --max-time 3 -o /dev/null "$DURL/__admin/state" 2>"$T/err"
rc=$?
want_that "curl rc $rc, expected 7 (connection refused): $(cat "$T/err")" [ "$rc" = 7 ]
curl -sS --max-time 3 -o /dev/null -H "Authorization: Bearer $VALID" "$DURL/v2/api-keys" 2>"$T/err"
rc=$?
want_that "curl rc $rc, expected 7 (connection refused): $(cat "$T/err")" [ "$rc" = 7 ]
if command -v ss >/dev/null; then
    want_that "nothing listens on port $dport: $(ss -Hltn "sport = :$dport")" \
        [ -z "$(ss -Hltn "sport = :$dport" 2>/dev/null)" ]
fi
elapsed=$(since "$t_down")
want_that "checked within the period (${elapsed}s after the call)" lt "$elapsed" 2
end "down: while down, new connections are refused (curl exit 7), nothing listens"

begin
up=""
deadline=$(($(date +%s) + 10))
while [ "$(date +%s)" -le "$deadline" ]; do
    if curl -s --max-time 1 -o /dev/null "$DURL/__admin/state"; then
        up=$(since "$t_down")
        break
    fi
    sleep 0.1
done
want_that "the stub answers again within 10 s of the period's end" [ -n "$up" ]
want_that "it stayed down for the period (up again ${up}s after the call)" ge "${up:-0}" 1.8
URL=$DURL admin GET /__admin/state
cp "$T/abody" "$T/body"
want '.keys == 1 and .faults_armed == 1 and .unique_names == false'
want '.requests == $n' --argjson n "${requests_before:-null}"
URL=$DURL api GET "/v2/api-keys/$survivor"
want_code 200
want '.id == $id and .name == "survivor"' --arg id "$survivor"
end "down: after the period the stub listens again on the same port, its keys, config, faults and request log intact (up ${up}s after the call)"

begin
URL=$DURL admin POST /__admin/down '{"seconds":60}'
want_that "down for 60 s answered $acode" [ "$acode" = 200 ]
for _ in $(seq 20); do
    curl -s --max-time 1 -o /dev/null "$DURL/__admin/state"
    [ $? = 7 ] && break
    sleep 0.05
done
t_term=$(now)
kill -TERM "$down_pid" 2>/dev/null
for _ in $(seq 30); do
    case $(proc_state "$down_pid") in "" | Z) break ;; esac
    sleep 0.1
done
stopped=$(since "$t_term")
case $(proc_state "$down_pid") in
    "" | Z)
        wait "$down_pid"
        rc=$?
        down_pid=""
        want_that "exit status $rc, expected 0 (the clean shutdown)" [ "$rc" = 0 ]
        ;;
    *) problem "still running ${stopped}s after SIGTERM" ;;
esac
want_that "stopped ${stopped}s after SIGTERM (< 1)" lt "$stopped" 1
end "down: SIGTERM during a down period stops the stub at once, through its clean shutdown"
