# Helpers of the TAP suites of durable provisioning, outbox.sh and outbox_soak.sh (sourced,
# not run: run.sh runs *.sh only). Sources common.bash (ok, fault). A suite sets, before
# it sources this file:
#   DB        the test database, made anew in run.sh's cluster by outbox_setup
#   KEY       the provisioning key of the user mappings (the key run.sh's server has)
#   tmp       a temporary folder of its own
#   pgbin     the bindir of "${PG_CONFIG:-pg_config}"
#   as_owner  (array) the command prefix that runs a command as the cluster's owner
# and n=0, failed=0 before its first check.
# shellcheck disable=SC2154 # the variables above are the suite's

# shellcheck source=common.bash
. "$(dirname "${BASH_SOURCE[0]}")/common.bash"

# The cluster of run.sh, started again after the suite stopped it (the server's
# environment carries the key of the provisioning_key_env test, as run.sh gives it).
start_main() {
    RK_TEST_PROVISIONING_KEY=$KEY "${as_owner[@]}" "$pgbin/pg_ctl" -D "$RK_PGDATA" \
        -l "$RK_SERVER_LOG" -w start >/dev/null 2>&1
}

# What a suite's cleanup does last: run.sh's cluster running again, the stub's faults
# disarmed and its state reset, the test database dropped, the temporary folder removed.
outbox_cleanup() {
    "${as_owner[@]}" "$pgbin/pg_ctl" -D "$RK_PGDATA" status >/dev/null 2>&1 || start_main
    curl -s -m 5 -X DELETE "$RK_STUB_URL/__admin/faults" >/dev/null
    curl -s -m 5 -X POST "$RK_STUB_URL/__admin/reset" >/dev/null
    # The worker of the database is connected to it: DROP DATABASE may be refused.
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 ||
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$tmp"
}

# One query in the test database of run.sh's cluster: unaligned, tuples only.
q() {
    psql -X -q -A -t -d "$DB" -c "$1" 2>&1
}

# Runs a command until it succeeds, every 0.2 s, for at most $1 seconds.
poll() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.2
    done
}

# Seconds since a time of date +%s%N ($1), to a tenth.
since() {
    local d=$((($(date +%s%N) - $1) / 100000000))
    echo "$((d / 10)).$((d % 10))"
}

# Calls the stub's admin API: method, path, optional JSON body.
admin() {
    curl -s -m 5 -X "$1" "$RK_STUB_URL/__admin/$2" ${3:+-d "$3"}
}

# The number of live keys the stub holds.
stub_keys() {
    admin GET state | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"])' 2>/dev/null
}

# Passes when no intent of a name prefix is open ($2: the query function, q or qd).
drained() {
    [ "$("${2:-q}" "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE '$1%' AND state IN ('pending', 'sending')")" = 0 ]
}

# Passes when the server accepts connections and the worker of the database runs with a
# pid other than $1.
new_worker() {
    local pid
    pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'routerkeys worker' AND datname = '$DB'")
    [ -n "$pid" ] && [ "$pid" != "$1" ] && [ "$pid" -gt 0 ] 2>/dev/null
}

# The pid of the worker of the database, or nothing.
worker_pid() {
    q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'routerkeys worker' AND datname = '$DB'" |
        grep -E '^[0-9]+$'
}

# How many intents of a prefix are in each state, e.g. "pending:144 sending:256".
states() {
    q "SELECT string_agg(state || ':' || c, ' ' ORDER BY state) FROM (SELECT state, count(*) AS c FROM routerkeys.intent WHERE key_name LIKE '$1%' GROUP BY state) s"
}

# The check of a scenario: the stub's keys of prefix $1 are exactly the $2 committed
# creates; $3 names the scenario; $4 is the query function (q or qd).
verify() {
    local got want
    got=$("${4:-q}" "SELECT concat_ws(' ', committed, intents, done, keys, orphans, missing, duplicates, written_back, tokens_once, tokens) FROM check_prefix('$1')")
    want="$2 $2 $2 $2 0 0 0 $2 $2 $2"
    local committed intents finished keys orphans missing dups written once tokens
    read -r committed intents finished keys orphans missing dups written once tokens <<<"$got"
    [ "$got" = "$want" ]
    ok $? "$3: $committed committed creates ($intents intents, $finished done), $keys keys, $orphans orphans, $missing missing, $dups duplicates, $written key ids written back (the live key's), $once tokens delivered once ($tokens deliveries)"
    [ "$got" = "$want" ] || echo "#   wanted $want, got: $got"
}

# Writes the objects of a test database to the file $1 (psql variables url and key): the
# stub's server, a second one with a short timeout, a tenant table for each (the
# provision() trigger writes the key id back and delivers the token to store_token()),
# and the check.
outbox_setup_sql() {
    cat >"$1" <<'EOF'
CREATE EXTENSION routerkeys;
CREATE SERVER stub FOREIGN DATA WRAPPER routerkeys OPTIONS (url :'url');
CREATE USER MAPPING FOR CURRENT_USER SERVER stub OPTIONS (provisioning_key :'key');
CREATE SERVER stub_slow FOREIGN DATA WRAPPER routerkeys OPTIONS (url :'url', timeout_ms '300');
CREATE USER MAPPING FOR CURRENT_USER SERVER stub_slow OPTIONS (provisioning_key :'key');
CREATE TABLE tenants (name text PRIMARY KEY, key_id text);
CREATE TABLE tenants_slow (name text PRIMARY KEY, key_id text);
CREATE VIEW all_tenants AS
    SELECT name, key_id FROM tenants UNION ALL SELECT name, key_id FROM tenants_slow;
CREATE TABLE tokens (tenant text NOT NULL, key_id text, token text NOT NULL);
CREATE FUNCTION store_token(context jsonb, key_id text, token text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO public.tokens (tenant, key_id, token) VALUES (context ->> 'name', key_id, token)
$$;
CREATE TRIGGER provision AFTER INSERT OR UPDATE OR DELETE ON tenants
FOR EACH ROW EXECUTE FUNCTION routerkeys.provision(
    'name={name}', 'key_column=key_id', 'server=stub',
    'deliver_to=public.store_token(jsonb,text,text)');
CREATE TRIGGER provision AFTER INSERT OR UPDATE OR DELETE ON tenants_slow
FOR EACH ROW EXECUTE FUNCTION routerkeys.provision(
    'name={name}', 'key_column=key_id', 'server=stub_slow',
    'deliver_to=public.store_token(jsonb,text,text)');

-- For the names of a prefix: the committed tenants, their create intents (and how many
-- are done), the stub's keys (listed through the API), the keys no committed tenant has
-- (orphans), the tenants with no key (missing), the keys beyond the first of a name
-- (duplicates), the tenants whose key id is that of the one key of their name and of
-- their intent, the tenants that got exactly one token, of their key, and all tokens.
CREATE FUNCTION check_prefix(p text)
RETURNS TABLE (committed bigint, intents bigint, done bigint, keys bigint, orphans bigint,
               missing bigint, duplicates bigint, written_back bigint, tokens_once bigint,
               tokens bigint)
LANGUAGE sql AS $$
    WITH k AS MATERIALIZED (
        SELECT id, name FROM routerkeys.list_keys(search => p, server => 'stub')
        WHERE name LIKE p || '%'),
    t AS MATERIALIZED (SELECT name, key_id FROM all_tenants WHERE name LIKE p || '%'),
    i AS MATERIALIZED (
        SELECT key_name, state, result_key_id FROM routerkeys.intent
        WHERE operation = 'create' AND key_name LIKE p || '%'),
    tok AS MATERIALIZED (SELECT tenant, key_id, token FROM tokens WHERE tenant LIKE p || '%')
    SELECT (SELECT count(*) FROM t),
           (SELECT count(*) FROM i),
           (SELECT count(*) FROM i WHERE state = 'done' AND key_name IN (SELECT name FROM t)),
           (SELECT count(*) FROM k),
           (SELECT count(*) FROM k WHERE name NOT IN (SELECT name FROM t)),
           (SELECT count(*) FROM t WHERE name NOT IN (SELECT name FROM k)),
           (SELECT count(*) - count(DISTINCT name) FROM k),
           (SELECT count(*) FROM t
            WHERE (SELECT array_agg(k.id) FROM k WHERE k.name = t.name) = ARRAY[t.key_id]
              AND (SELECT array_agg(i.result_key_id) FROM i WHERE i.key_name = t.name)
                  = ARRAY[t.key_id]),
           (SELECT count(*) FROM t
            WHERE (SELECT count(*) FROM tok WHERE tok.tenant = t.name) = 1
              AND EXISTS (SELECT FROM tok WHERE tok.tenant = t.name AND tok.key_id = t.key_id
                          AND tok.token LIKE 'sk-orq-' || t.key_id || '-%')),
           (SELECT count(*) FROM tok)
$$;
EOF
}

# The test database made anew in run.sh's cluster, with the objects of outbox_setup_sql
# (written to $tmp/setup.sql; psql's output in $tmp/setup.out). Returns psql's status.
outbox_setup() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
    outbox_setup_sql "$tmp/setup.sql"
    psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -v url="$RK_STUB_URL" -v key="$KEY" \
        -f "$tmp/setup.sql" >"$tmp/setup.out" 2>&1
}
