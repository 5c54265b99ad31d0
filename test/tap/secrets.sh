#!/usr/bin/env bash
# TAP suite: secret hygiene and the security of the extension.
#   - the provisioning key never appears in an error, DETAIL, HINT, CONTEXT, NOTICE, DEBUG
#     output, EXPLAIN, pg_stat_activity, a catalog another role can read, or the server log;
#   - a key echoed by the service is redacted;
#   - the key can be given from a file or the environment of the server (superuser only);
#   - TLS: verification on, a private CA through ca_file;
#   - hostile objects in public do not hijack the extension script;
#   - 10 000 calls in one session do not grow the backend's memory.
# Run by test/run.sh after pg_regress, with PGHOST/PGPORT/PGUSER, RK_STUB_URL, RK_STUB_BIN
# and RK_SERVER_LOG set. Everything it starts is stopped by the trap.
set -u

KEY=rk-test-provisioning-valid
FAKE_KEYS=(rk-test-provisioning-valid rk-test-provisioning-disabled rk-test-provisioning-revoked rk-test-wrong)
DB=rk_tap_secrets
tmp=$(mktemp -d)
chmod 755 "$tmp"
tls_pid=""
n=0
failed=0

cleanup() {
    [ -n "$tls_pid" ] && kill "$tls_pid" 2>/dev/null
    curl -s -m 5 -X DELETE "$RK_STUB_URL/__admin/faults" >/dev/null
    curl -s -m 5 -X POST "$RK_STUB_URL/__admin/reset" >/dev/null
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "DROP DATABASE IF EXISTS ${DB}_hostile" \
        -c "DROP ROLE IF EXISTS rk_tap_reader" -c "DROP ROLE IF EXISTS rk_tap_owner" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

# Shows a file as TAP diagnostics.
show() {
    head -n 40 "$1" | sed 's/^/#   /'
}

# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

# Runs SQL in the test database; output (stdout and stderr) to the file $1.
sql_to() {
    local out=$1
    shift
    psql -X -d "$DB" -v ON_ERROR_STOP=0 -v VERBOSITY=verbose "$@" >>"$out" 2>&1
}

# Passes when no fake key occurs in a file.
no_key_in() {
    local file=$1 what=$2 k hits=0
    for k in "${FAKE_KEYS[@]}"; do
        if grep -q -- "$k" "$file"; then
            echo "#   $k found in $what:"
            grep -n -- "$k" "$file" | head -3 | sed 's/^/#     /'
            hits=1
        fi
    done
    ok "$hits" "no provisioning key in $what"
}

echo "1..17"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
curl -s -m 5 -X POST "$RK_STUB_URL/__admin/reset" >/dev/null
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >/dev/null <<EOF
CREATE EXTENSION routerkeys;
CREATE SERVER s FOREIGN DATA WRAPPER routerkeys OPTIONS (url '$RK_STUB_URL', max_retries '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (provisioning_key '$KEY');
IMPORT FOREIGN SCHEMA router FROM SERVER s INTO public;
SELECT routerkeys.create_key('secret-' || g) FROM generate_series(1, 3) g;
EOF

# 1. Every error class and EXPLAIN, with DEBUG5 to the client and to the server log.
out=$tmp/debug.out
sql_to "$out" <<'EOF'
SET client_min_messages = debug5;
SET log_min_messages = debug5;
\set VERBOSITY verbose
SELECT count(*) FROM routerkeys.keys;
SELECT * FROM routerkeys.get_key('01JZZZZZZZZZZZZZZZZZZZZZZZ');
SELECT routerkeys.update_key('01JZZZZZZZZZZZZZZZZZZZZZZZ', active => false);
SELECT routerkeys.create_key('secret-1');
SELECT routerkeys.create_key('');
EXPLAIN (VERBOSE, ANALYZE) SELECT * FROM router_keys WHERE id = 'x';
EXPLAIN (VERBOSE) UPDATE router_keys SET active = false WHERE name = 'secret-2';
EXPLAIN (VERBOSE) INSERT INTO router_keys (name) VALUES ('secret-4');
SELECT name, setting FROM pg_settings WHERE name LIKE 'routerkeys%';
SHOW ALL;
EOF
for spec in \
    '{"kind":"status","status":401,"count":-1}' \
    '{"kind":"status","status":403,"error_form":"code_error","count":-1}' \
    '{"kind":"status","status":500,"error_form":"html","count":-1}' \
    '{"kind":"status","status":429,"retry_after":"0","count":-1}' \
    '{"kind":"truncate","count":-1}' \
    '{"kind":"wrong_types","count":-1}' \
    '{"kind":"reset","count":-1}'; do
    fault "$spec"
    sql_to "$out" -c "SET client_min_messages = debug5" -c "SELECT count(*) FROM routerkeys.keys" \
        -c "SELECT * FROM router_keys WHERE id = 'x'"
    curl -s -m 5 -X DELETE "$RK_STUB_URL/__admin/faults" >/dev/null
done
grep -q "rejected the provisioning key" "$out" && grep -q "Remote Request" "$out"
ok $? "the error and EXPLAIN output was produced (401 message, Remote Request)"
no_key_in "$out" "errors, DETAIL, HINT, CONTEXT, DEBUG5 output, EXPLAIN and settings"

# 2. A service that echoes the key back has it redacted.
out=$tmp/echo.out
fault "{\"kind\":\"raw\",\"status\":400,\"content_type\":\"application/json\",\"body\":\"{\\\"error\\\":{\\\"message\\\":\\\"bad key $KEY\\\"}}\",\"count\":1}"
sql_to "$out" -c "SELECT count(*) FROM routerkeys.keys"
grep -q "bad key \[redacted\]" "$out"
ok $? "a key echoed by the service is shown as [redacted]"
no_key_in "$out" "the error of a service that echoes the key"

# 3. pg_stat_activity while a call is in flight.
fault '{"kind":"delay_headers","ms":2000,"count":1}'
psql -X -d "$DB" -c "SELECT count(*) FROM routerkeys.keys" >/dev/null 2>&1 &
call=$!
sleep 0.7
out=$tmp/activity.out
psql -X -d "$DB" -c "SELECT pid, state, wait_event_type, wait_event, query FROM pg_stat_activity" >"$out" 2>&1
wait "$call"
grep -q "routerkeys.keys" "$out"
ok $? "pg_stat_activity shows the call in flight"
no_key_in "$out" "pg_stat_activity"

# 4. What another role can read.
out=$tmp/catalogs.out
psql -X -q -d "$DB" -c "CREATE ROLE rk_tap_reader" -c "GRANT USAGE ON FOREIGN SERVER s TO rk_tap_reader" >/dev/null
sql_to "$out" <<'EOF'
SET ROLE rk_tap_reader;
SELECT * FROM pg_user_mappings;
SELECT * FROM information_schema.user_mapping_options;
SELECT * FROM pg_foreign_server;
SELECT * FROM pg_foreign_table;
SELECT * FROM pg_settings WHERE name LIKE 'routerkeys%';
SELECT * FROM pg_stat_activity;
SELECT umoptions FROM pg_user_mapping;
EOF
grep -q "permission denied for table pg_user_mapping" "$out"
ok $? "pg_user_mapping is closed to another role"
no_key_in "$out" "any catalog or view another role can read"

# 5. The key from a file or from the environment of the server; superuser only.
keyfile=$tmp/provisioning.key
echo "$KEY" >"$keyfile"
chmod 644 "$keyfile"
out=$tmp/sources.out
sql_to "$out" <<EOF
ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (DROP provisioning_key, ADD provisioning_key_file '$keyfile');
SELECT 'from file', count(*) FROM routerkeys.keys;
ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (DROP provisioning_key_file, ADD provisioning_key_env 'RK_TEST_PROVISIONING_KEY');
SELECT 'from env', count(*) FROM routerkeys.keys;
ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (SET provisioning_key_env 'RK_TEST_NOT_SET');
SELECT count(*) FROM routerkeys.keys;
ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (DROP provisioning_key_env, ADD provisioning_key '$KEY');
CREATE ROLE rk_tap_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER routerkeys TO rk_tap_owner;
SET ROLE rk_tap_owner;
CREATE SERVER own FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'https://api.example.com', ca_file '/tmp/evil.pem');
CREATE SERVER own FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'https://api.example.com');
CREATE USER MAPPING FOR rk_tap_owner SERVER own OPTIONS (provisioning_key_file '/etc/passwd');
CREATE USER MAPPING FOR rk_tap_owner SERVER own OPTIONS (provisioning_key_env 'HOME');
RESET ROLE;
DROP SERVER own;
REVOKE USAGE ON FOREIGN DATA WRAPPER routerkeys FROM rk_tap_owner;
EOF
grep -Eq "from file +\| +3" "$out" && grep -Eq "from env +\| +3" "$out" &&
    grep -q 'environment variable "RK_TEST_NOT_SET"' "$out"
ok $? "the key is read from a file and from the environment; a missing variable is an error"
[ "$(grep -c 'only superusers can set option' "$out")" = 3 ]
ok $? "ca_file, provisioning_key_file and provisioning_key_env are superuser-only"

# A key file's first line is read whole (not cut at 1 kB), up to a clear limit; a rejected
# key's hint names the option the mapping uses.
longfile=$tmp/long.key
hugefile=$tmp/huge.key
python3 -c "print('rk-test-wrong-' + 'x' * 2000)" >"$longfile"
python3 -c "print('rk-test-wrong-' + 'x' * 9000)" >"$hugefile"
chmod 644 "$longfile" "$hugefile"
out=$tmp/keyfile.out
sql_to "$out" <<EOF
\set VERBOSITY verbose
ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (DROP provisioning_key, ADD provisioning_key_file '$longfile');
SELECT count(*) FROM routerkeys.keys;
ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (SET provisioning_key_file '$hugefile');
SELECT count(*) FROM routerkeys.keys;
ALTER USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (DROP provisioning_key_file, ADD provisioning_key '$KEY');
SELECT 'back', count(*) FROM routerkeys.keys;
EOF
grep -q 'HINT:  Check the provisioning_key_file option of the user mapping' "$out"
ok $? "a rejected key from a file: the hint names provisioning_key_file"
grep -q 'ERROR:  22023: the first line of file .* is too long for a provisioning key' "$out" &&
    grep -Eq "back +\| +3" "$out"
ok $? "a key file line over 8 kB is a clear error (22023), and the session goes on"

# 6. TLS: verification is always on; a private CA is trusted through ca_file.
certdir=$tmp/tls
mkdir -p "$certdir"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$certdir/key.pem" -out "$certdir/cert.pem" >/dev/null 2>&1
chmod 644 "$certdir"/*.pem
"$RK_STUB_BIN" --port 0 --port-file "$certdir/port" --quiet \
    --tls-cert "$certdir/cert.pem" --tls-key "$certdir/key.pem" >/dev/null 2>&1 &
tls_pid=$!
for _ in $(seq 50); do [ -s "$certdir/port" ] && break; sleep 0.1; done
out=$tmp/tls.out
sql_to "$out" <<EOF
CREATE SERVER tls FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'https://127.0.0.1:$(cat "$certdir/port")', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER tls OPTIONS (provisioning_key '$KEY');
SELECT 'untrusted', count(*) FROM routerkeys.list_keys(server => 'tls');
ALTER SERVER tls OPTIONS (ADD ca_file '$certdir/cert.pem');
SELECT 'trusted', name FROM routerkeys.create_key('over-tls', server => 'tls');
DROP SERVER tls CASCADE;
EOF
grep -q "could not establish a secure connection" "$out"
ok $? "a certificate nobody vouches for is refused (08001)"
grep -Eq "trusted +\| over-tls" "$out" || { show "$out"; false; }
ok $? "with ca_file the same server is reached over HTTPS"

# 7. Hostile objects in public do not hijack the extension script or its view.
out=$tmp/hostile.out
psql -X -q -d postgres -c "CREATE DATABASE ${DB}_hostile" >/dev/null
psql -X -d "${DB}_hostile" -v ON_ERROR_STOP=0 >"$out" 2>&1 <<EOF
CREATE FUNCTION public.list_keys(text DEFAULT NULL, text DEFAULT NULL, text DEFAULT NULL, name DEFAULT NULL)
RETURNS SETOF int LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'hijacked'; END \$\$;
CREATE FUNCTION public.evil_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'hijacked'; END \$\$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.evil_eq);
CREATE FUNCTION public.text(name) RETURNS text LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION 'hijacked'; END \$\$;
SET search_path = public, pg_catalog;
CREATE EXTENSION routerkeys;
CREATE SERVER s FOREIGN DATA WRAPPER routerkeys OPTIONS (url '$RK_STUB_URL');
CREATE USER MAPPING FOR CURRENT_USER SERVER s OPTIONS (provisioning_key '$KEY');
SELECT 'listed', count(*) FROM routerkeys.keys;
SELECT 'created', name FROM routerkeys.create_key('hostile-check');
EOF
{ ! grep -q "hijacked" "$out" && grep -Eq "created +\| hostile-check" "$out"; } || { show "$out"; false; }
ok $? "functions planted in public before CREATE EXTENSION change nothing"

# 8. 10 000 calls in one session: the backend's memory does not grow.
out=$tmp/memory.out
psql -X -q -t -A -d "$DB" >"$out" 2>&1 <<'EOF'
SELECT id AS kid FROM routerkeys.list_keys() LIMIT 1 \gset
\set sample 'SELECT (regexp_match(pg_read_file(''/proc/'' || pg_backend_pid() || ''/status''), ''VmRSS:\\s+(\\d+)''))[1]::int AS rss, (SELECT sum(total_bytes) FROM pg_backend_memory_contexts) AS ctx'
SELECT count(*) FROM generate_series(1, 1000) g, LATERAL routerkeys.get_key(:'kid' || left(g::text, 0));
:sample \gset before_
SELECT count(*) FROM generate_series(1, 10000) g, LATERAL routerkeys.get_key(:'kid' || left(g::text, 0));
:sample \gset after_
SELECT 'after 1000 calls: RSS ' || :before_rss || ' kB, contexts ' || :before_ctx || ' B; after 11000: RSS ' || :after_rss || ' kB, contexts ' || :after_ctx || ' B';
SELECT 'growth ' || (:after_rss - :before_rss) || ' ' || (:after_ctx - :before_ctx);
EOF
echo "# memory: $(grep -E '^after' "$out")"
set -- $(sed -n 's/^growth \(-\?[0-9]*\) \(-\?[0-9]*\)$/\1 \2/p' "$out")
{ [ -n "${1:-}" ] && [ "$1" -lt 1024 ] && [ "${2:-1}" -le 0 ]; } || show "$out"
ok $? "10 000 more get_key calls grow the backend by less than 1 MB of RSS and not at all in memory contexts"

# 9. The server log of the whole run.
no_key_in "$RK_SERVER_LOG" "the server log of the test run"

[ "$failed" -eq 0 ]
