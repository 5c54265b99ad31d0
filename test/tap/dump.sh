#!/usr/bin/env bash
# TAP suite: pg_dump and pg_restore of a database that uses routerkeys 0.2. The outbox is
# marked for pg_dump, so its rows (done creates with their key ids, a dead intent with its
# error) come back with the tenants, the intent ids go on from where they were, and the
# restored database's worker applies a new intent. Run by test/run.sh after pg_regress, with
# PGHOST/PGPORT/PGUSER and RK_STUB_URL set. Bounded: every wait polls at most 30 s.
set -u

DB=rk_tap_dump
DB2=rk_tap_dump_restored
KEY=rk-test-provisioning-valid
tmp=$(mktemp -d)
pgbin=$("${PG_CONFIG:-pg_config}" --bindir)
n=0
failed=0

cleanup() {
    psql -X -q -d postgres -c "LOAD 'routerkeys'" -c "DROP DATABASE IF EXISTS $DB" \
        -c "DROP DATABASE IF EXISTS $DB2" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

q() {
    psql -X -q -A -t -d "$1" -c "$2" 2>&1
}

# Waits until no intent of a database is pending or being sent, at most 30 s.
drained() {
    for _ in $(seq 300); do
        [ "$(q "$1" "SELECT count(*) FROM routerkeys.intent WHERE state IN ('pending', 'sending')")" = 0 ] &&
            return 0
        sleep 0.1
    done
    return 1
}

# The outbox's rows, all columns, as one checksum.
outbox_sum() {
    q "$1" "SELECT count(*) || ' ' || md5(string_agg(i::text, ',' ORDER BY id)) FROM routerkeys.intent i"
}

echo "1..4"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "DROP DATABASE IF EXISTS $DB2" \
    -c "CREATE DATABASE $DB" >/dev/null
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 >"$tmp/setup.out" 2>&1 <<SQL
CREATE EXTENSION routerkeys;
CREATE SERVER stub FOREIGN DATA WRAPPER routerkeys OPTIONS (url '$RK_STUB_URL');
CREATE USER MAPPING FOR CURRENT_USER SERVER stub OPTIONS (provisioning_key '$KEY');
-- a server nobody listens on, tried once: its intent dies
CREATE SERVER nowhere FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'http://127.0.0.1:1', max_attempts '1', connect_timeout_ms '200');
CREATE USER MAPPING FOR CURRENT_USER SERVER nowhere OPTIONS (provisioning_key '$KEY');
CREATE TABLE tenants (id int PRIMARY KEY, key_id text);
CREATE TRIGGER provision AFTER INSERT OR DELETE ON tenants FOR EACH ROW
    EXECUTE FUNCTION routerkeys.provision('name=dump-tenant-{id}', 'key_column=key_id', 'server=stub');
INSERT INTO tenants SELECT g FROM generate_series(1, 5) g;
SELECT routerkeys.enqueue_create('dump-nowhere', server => 'nowhere');
SQL
[ $? -eq 0 ] || cat "$tmp/setup.out"
drained "$DB"
before=$(outbox_sum "$DB")
states=$(q "$DB" "SELECT string_agg(state || '=' || n, ' ' ORDER BY state) FROM (SELECT state, count(*) n FROM routerkeys.intent GROUP BY state) s")
[ "$states" = "dead=1 done=5" ]
ok $? "before the dump: 5 done creates and 1 dead intent in the outbox ($states)"

"$pgbin/pg_dump" -Fc -d "$DB" -f "$tmp/dump" 2>"$tmp/dump.err" &&
    psql -X -q -d postgres -c "CREATE DATABASE $DB2" >/dev/null &&
    "$pgbin/pg_restore" -d "$DB2" "$tmp/dump" 2>"$tmp/restore.err"
rc=$?
after=$(outbox_sum "$DB2")
[ $rc -eq 0 ] && [ -n "$before" ] && [ "$after" = "$before" ]
ok $? "pg_dump and pg_restore keep every outbox row as it was ($after; restore exit $rc)"
[ $rc -eq 0 ] || head -5 "$tmp/dump.err" "$tmp/restore.err"

written=$(q "$DB2" "SELECT count(*) FROM tenants t JOIN routerkeys.intent i ON i.key_name = 'dump-tenant-' || t.id AND i.result_key_id = t.key_id")
[ "$written" = 5 ]
ok $? "the restored tenants hold the key ids their intents recorded ($written of 5)"

max_before=$(q "$DB2" "SELECT max(id) FROM routerkeys.intent")
q "$DB2" "DELETE FROM tenants WHERE id = 1" >/dev/null
drained "$DB2"
new=$(q "$DB2" "SELECT id || ' ' || operation || ' ' || state FROM routerkeys.intent WHERE id > $max_before")
gone=$(q "$DB2" "SELECT count(*) FROM routerkeys.list_keys(search => 'dump-tenant-1', server => 'stub') WHERE name = 'dump-tenant-1'")
[ "${new%% *}" -gt "$max_before" ] 2>/dev/null && [ "${new#* }" = "delete done" ] && [ "$gone" = 0 ]
ok $? "the restored database goes on: intent ids after $max_before ($new), its worker deletes the key ($gone left)"

# The keys the suite made.
q "$DB" "DELETE FROM tenants" >/dev/null
drained "$DB"
[ "$failed" -eq 0 ]
