#!/usr/bin/env bash
# TAP suite: the transaction soak. 1 000 tenant transactions through README's trigger
# recipe, from 8 concurrent pgbench sessions: 30 % roll back, a third carry a savepoint
# that is rolled back (its tenant with it), while the stub injects transient faults (429,
# 503, answers lost on kept-alive connections). Mid-run one session is terminated
# (pg_terminate_backend: its transaction aborts, its keys are deleted) and one backend is
# killed with SIGKILL (the cluster's crash recovery: no abort runs, its keys stay). Then one
# reconcile(..., repair => true) pass, and the stub must hold exactly the committed
# tenants' keys: 0 orphans, 0 missing, 0 duplicates, counted by the stub. The stub allows
# duplicate names during the run, so that a second key of a name would show.
# Run by test/run.sh after pg_regress, with PGHOST/PGPORT/PGUSER and RK_STUB_URL set.
# Bounded: pgbench runs at most 120 s, every wait polls at most 30 s.
set -u

DB=rk_tap_soak
KEY=rk-test-provisioning-valid
tmp=$(mktemp -d)
chmod 755 "$tmp"
pgbin=$("${PG_CONFIG:-pg_config}" --bindir)
n=0
failed=0

cleanup() {
    curl -s -m 5 -X DELETE "$RK_STUB_URL/__admin/faults" >/dev/null
    curl -s -m 5 -X POST "$RK_STUB_URL/__admin/reset" >/dev/null
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

q() {
    psql -X -q -A -t -d "$DB" -c "$1" 2>&1
}

# Waits until the server accepts connections again (after the crash), at most 30 s.
wait_for_server() {
    for _ in $(seq 300); do
        psql -X -q -d "$DB" -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

echo "1..6"

curl -s -m 5 -X POST "$RK_STUB_URL/__admin/reset" >/dev/null
curl -s -m 5 -X POST "$RK_STUB_URL/__admin/config" -d '{"unique_names":false}' >/dev/null
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >"$tmp/setup.out" 2>&1 <<EOF
CREATE EXTENSION routerkeys;
CREATE SERVER stub FOREIGN DATA WRAPPER routerkeys OPTIONS (url '$RK_STUB_URL');
CREATE USER MAPPING FOR CURRENT_USER SERVER stub OPTIONS (provisioning_key '$KEY');
CREATE SEQUENCE tenant_ids;
CREATE TABLE tenants (
    id        int PRIMARY KEY,
    name      text NOT NULL UNIQUE,
    suspended boolean NOT NULL DEFAULT false,
    key_id    text UNIQUE
);
CREATE TABLE tenant_tokens (
    tenant_id int PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    token     text NOT NULL
);
CREATE FUNCTION tenants_key_sync() RETURNS trigger
LANGUAGE plpgsql AS \$\$
DECLARE
    made routerkeys.created_key;
BEGIN
    IF TG_OP = 'INSERT' THEN
        made := routerkeys.create_key('tenant-' || NEW.name);
        UPDATE tenants SET key_id = made.id WHERE id = NEW.id;
        INSERT INTO tenant_tokens VALUES (NEW.id, made.token);
    ELSIF TG_OP = 'UPDATE' AND NEW.suspended IS DISTINCT FROM OLD.suspended THEN
        PERFORM routerkeys.update_key(NEW.key_id, active => NOT NEW.suspended);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM routerkeys.delete_key(OLD.key_id);
    END IF;
    RETURN NULL;
END
\$\$;
CREATE TRIGGER tenants_key_sync
    AFTER INSERT OR UPDATE OF suspended OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_key_sync();
EOF
ok $? "set-up: the extension, the stub's server and the README trigger recipe"

# One tenant transaction: a tenant; in a third of them a second tenant inside a savepoint
# that is rolled back; 30 % end in ROLLBACK. The sleep keeps transactions open long
# enough for the terminate and the kill to find one.
cat >"$tmp/tenant.sql" <<'EOF'
\set r random(1, 100)
\set s random(1, 3)
BEGIN;
INSERT INTO tenants (id, name) SELECT nextval('tenant_ids'), 'soak-' || currval('tenant_ids');
\if :s = 1
SAVEPOINT extra;
INSERT INTO tenants (id, name) SELECT nextval('tenant_ids'), 'soak-' || currval('tenant_ids');
ROLLBACK TO SAVEPOINT extra;
\endif
SELECT pg_sleep(0.005);
\if :r <= 30
ROLLBACK;
\else
COMMIT;
\endif
EOF

# Transient faults over the run, one request each, spread out: rate limits,
# unavailability and lost answers (closed kept-alive connections, resets mid-answer) on
# creates, unavailability on the deletes of the rollbacks.
for k in $(seq 0 24); do
    fault "{\"kind\":\"status\",\"status\":429,\"retry_after\":\"0\",\"method\":\"POST\",\"skip\":$((10 + k * 31))}"
    fault "{\"kind\":\"status\",\"status\":503,\"method\":\"POST\",\"skip\":$((17 + k * 31))}"
    fault "{\"kind\":\"drop\",\"method\":\"POST\",\"skip\":$((23 + k * 31))}"
    fault "{\"kind\":\"reset\",\"method\":\"POST\",\"skip\":$((29 + k * 31))}"
    fault "{\"kind\":\"status\",\"status\":503,\"method\":\"DELETE\",\"skip\":$((3 + k * 11))}"
done
faults=$(curl -s -m 5 "$RK_STUB_URL/__admin/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults_armed"])')

# A pgbench session in a transaction, once at least $1 tenants committed (at most 30 s).
session_in_transaction() {
    local pid=""
    for _ in $(seq 300); do
        pid=$(q "SELECT pid FROM pg_stat_activity WHERE datname = '$DB' AND application_name = 'pgbench' AND xact_start IS NOT NULL AND pid <> pg_backend_pid() LIMIT 1")
        [ -n "$pid" ] && [ "$(q "SELECT count(*) FROM tenants")" -ge "$1" ] 2>/dev/null && break
        pid=""
        sleep 0.05
    done
    echo "$pid"
}

# Part one, up to 504 transactions: one session is terminated mid-transaction, then
# another backend is killed with SIGKILL, which ends the part (the postmaster restarts).
timeout 120 "$pgbin/pgbench" -n -c 8 -j 2 -t 63 -f "$tmp/tenant.sql" "$DB" >"$tmp/pgbench1.out" 2>&1 &
bench=$!
victim=$(session_in_transaction 100)
terminated=$(q "SELECT pg_terminate_backend(${victim:-0})")
killed=$(session_in_transaction 200)
[ -n "$killed" ] && kill -9 "$killed"
wait "$bench"
wait_for_server
# Part two, after the recovery: the rest of the 1 000 transactions (8 sessions).
done1=$(sed -n 's/.*actually processed: \([0-9]*\)\/.*/\1/p' "$tmp/pgbench1.out")
per_session=$(((1000 - ${done1:-0} + 7) / 8))
timeout 120 "$pgbin/pgbench" -n -c 8 -j 2 -t "$per_session" -f "$tmp/tenant.sql" "$DB" >"$tmp/pgbench2.out" 2>&1
left=$(curl -s -m 5 "$RK_STUB_URL/__admin/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults_armed"])')
[ "$terminated" = t ] && [ -n "$killed" ] && [ "$left" = 0 ] &&
    grep -q "number of transactions actually processed: $((per_session * 8))/$((per_session * 8))" "$tmp/pgbench2.out"
ok $? "all $faults faults hit ($left left); one session terminated mid-transaction, one backend killed with SIGKILL; the cluster recovered and ran the rest"
grep -hE "actually processed" "$tmp/pgbench1.out" "$tmp/pgbench2.out" | sed 's/^/#   /'

curl -s -m 5 -X DELETE "$RK_STUB_URL/__admin/faults" >/dev/null

# Counts before the repair: committed tenants (all have a key id), keys the stub holds.
committed=$(q "SELECT count(*) FROM tenants")
with_key=$(q "SELECT count(*) FROM tenants WHERE key_id IS NOT NULL")
stub_before=$(curl -s -m 5 "$RK_STUB_URL/__admin/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"])')
report=$(q "SELECT problem || ':' || count(*) FROM routerkeys.reconcile('tenants', 'key_id', 'tenant-soak-%') GROUP BY problem ORDER BY 1" | tr '\n' ' ')
echo "# before reconcile: $committed committed tenants ($with_key with a key id), $stub_before keys in the stub; reconcile reports: ${report:-nothing}"
[ "$committed" -ge 300 ] && [ "$committed" = "$with_key" ]
ok $? "hundreds of tenants committed ($committed), every one with its key id"

repaired=$(q "SELECT count(*) FILTER (WHERE repaired) || ' repaired, ' || count(*) FILTER (WHERE NOT repaired) || ' left' FROM routerkeys.reconcile('tenants', 'key_id', 'tenant-soak-%', repair => true)")
echo "# reconcile with repair: $repaired"

# After: the stub's keys are exactly the committed tenants' keys.
q "SELECT id || ' ' || name FROM routerkeys.list_keys()" | sort >"$tmp/remote"
q "SELECT key_id || ' tenant-' || name FROM tenants" | sort >"$tmp/local"
stub_after=$(curl -s -m 5 "$RK_STUB_URL/__admin/state" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"])')
orphans=$(comm -23 "$tmp/remote" "$tmp/local" | wc -l)
missing=$(comm -13 "$tmp/remote" "$tmp/local" | wc -l)
duplicates=$(cut -d' ' -f2 "$tmp/remote" | sort | uniq -d | wc -l)
echo "# after reconcile: $stub_after keys in the stub, $orphans orphans, $missing missing, $duplicates duplicate names"
[ "$orphans" = 0 ] && [ "$missing" = 0 ] && [ "$duplicates" = 0 ] && [ "$stub_after" = "$committed" ]
ok $? "the stub holds exactly the committed tenants' keys: 0 orphans, 0 missing, 0 duplicates"

tokens=$(q "SELECT count(*) FROM tenant_tokens tt JOIN tenants t ON t.id = tt.tenant_id WHERE tt.token LIKE 'sk-orq-' || t.key_id || '-%'")
[ "$tokens" = "$committed" ]
ok $? "every committed tenant holds the token of its own key ($tokens)"

[ "$(q "SELECT count(*) FROM routerkeys.reconcile('tenants', 'key_id', 'tenant-soak-%')")" = 0 ]
ok $? "a second reconcile finds nothing"

[ "$failed" -eq 0 ]
