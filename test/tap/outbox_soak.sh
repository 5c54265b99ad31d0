#!/usr/bin/env bash
# TAP suite: the soak of durable provisioning. 2 000 tenants are inserted through the
# provision() trigger by 8 concurrent pgbench sessions, in transactions of 1 to 3 tenants,
# 50 a second, 30 % of which roll back (pgbench picks the script by weight, 7 to 3; the
# rolling-back one records its transaction in a table of its own after the ROLLBACK).
# Meanwhile the stub answers 5 ms late and injects faults on creates, spread over the run:
# 429 with Retry-After 1, 503, and "drop" (the key made, then the connection closed
# without an answer). In the middle of the run, while intents are being sent, the cluster
# is stopped with pg_ctl stop -m immediate and started again: the sessions of the first
# pgbench fail then, and a second pgbench inserts the rest of the tenants. Once the outbox
# has no pending or sending intent (and no create is left to settle), the stub's keys of
# the soak's names must be exactly the committed tenants, the rows of the table (0 orphans,
# 0 missing, 0 duplicates: the stub allows duplicate names so that a second key would
# show), the key id written back that of the live key, each token delivered once; the
# rolled-back tenants have no row, intent, key or token.
# Run by test/run.sh after pg_regress, with PGHOST/PGPORT/PGUSER, RK_STUB_URL,
# RK_SERVER_LOG, RK_PGDATA and RK_AS_OWNER set. Bounded: each pgbench runs at most 60 s,
# the drain is awaited at most 120 s, every other wait at most 60 s; the suite takes about
# 25 s (at most about 2.5 minutes).
set -u

DB=rk_tap_outbox_soak
KEY=rk-test-provisioning-valid
P=os-            # the soak's name prefix; rolled-back transactions' tenants are os-rb…
TENANTS=2000
CLIENTS=8
RATE=50          # transactions a second, all sessions together
tmp=$(mktemp -d)
chmod 755 "$tmp"
pgbin=$("${PG_CONFIG:-pg_config}" --bindir)
# shellcheck disable=SC2206 # a command prefix, split into words on purpose
as_owner=(${RK_AS_OWNER:-})
bench=""
n=0
failed=0

cleanup() {
    [ -n "$bench" ] && kill "$bench" 2>/dev/null
    outbox_cleanup
}
trap cleanup EXIT

# shellcheck source=outbox.bash
. "$(dirname "$0")/outbox.bash"

# The transactions pgbench ran of each script, from its report ($1): "commits rollbacks".
per_script() {
    awk '/^SQL script 1:/ {s = 1} /^SQL script 2:/ {s = 2}
         s && / - [0-9]+ transactions/ {c[s] = $2; s = 0}
         END {print c[1] + 0, c[2] + 0}' "$1"
}

# The number of committed tenants of the soak.
committed_tenants() {
    q "SELECT count(*) FROM tenants WHERE name LIKE '$P%'"
}

# The tenants inserted by the transactions that ended: "committed rolled-back".
inserted() {
    q "SELECT (SELECT count(*) FROM tenants WHERE name LIKE '$P%') || ' ' || (SELECT coalesce(sum(tenants), 0) FROM soak_rolled_back)"
}

echo "1..7"

admin POST reset >/dev/null
admin POST config '{"unique_names":false,"latency_ms":5}' >/dev/null
admin DELETE log >/dev/null
outbox_setup &&
    psql -X -q -d "$DB" -v ON_ERROR_STOP=1 -c "CREATE SEQUENCE soak_txn" \
        -c "CREATE TABLE soak_rolled_back (txn bigint PRIMARY KEY, tenants int NOT NULL)" \
        >>"$tmp/setup.out" 2>&1
ok $? "set-up: the extension, the stub's server, the tenant table with the provision() trigger, a token table, the check, the record of rolled-back transactions; stub latency 5 ms, duplicate names allowed"
sed 's/^/#   /' "$tmp/setup.out"

# The two scripts: a transaction of 1 to 3 tenants, named after the transaction's number,
# open for 20 to 100 ms (so that the stop finds some open); the one ends with COMMIT, the
# other (names os-rb…) with ROLLBACK, then records the transaction in soak_rolled_back.
for script in commit rollback; do
    if [ $script = commit ]; then
        infix="" end="COMMIT;"
    else
        infix=rb end="ROLLBACK;
INSERT INTO soak_rolled_back VALUES (:t, :k);"
    fi
    cat >"$tmp/$script.sql" <<EOF
\\set k random(1, 3)
\\set nap random(20, 100)
BEGIN;
SELECT nextval('soak_txn') AS t \\gset
INSERT INTO tenants (name) SELECT '$P$infix' || :t || '-' || g FROM generate_series(1, :k) g;
SELECT pg_sleep(:nap * 0.001);
$end
EOF
done
run_bench() {
    timeout 60 "$pgbin/pgbench" -n -c "$CLIENTS" -j 2 -R "$RATE" -t "$1" \
        -f "$tmp/commit.sql@7" -f "$tmp/rollback.sql@3" "$DB" >"$2" 2>&1
}

# Faults on creates, one request each, spread over the first thousand POSTs (the soak
# makes about 1 400 keys): 12 times a 429 with Retry-After 1 (which holds back the whole
# queue for a second), a 503, a dropped answer (the key made).
for k in $(seq 0 11); do
    fault "{\"kind\":\"status\",\"status\":429,\"retry_after\":\"1\",\"method\":\"POST\",\"skip\":$((20 + k * 80))}"
    fault "{\"kind\":\"status\",\"status\":503,\"method\":\"POST\",\"skip\":$((45 + k * 80))}"
    fault "{\"kind\":\"drop\",\"method\":\"POST\",\"skip\":$((70 + k * 80))}"
done
armed=$(admin GET state | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults_armed"])')

# Phase one: up to 63 transactions a session (about 1 000 tenants); once 350 tenants are
# committed (about 5 s in) and an intent is being sent (or 2 s later), the cluster is
# stopped with -m immediate, mid-run and mid-drain, and started again.
start_all=$(date +%s%N)
run_bench 63 "$tmp/pgbench1.out" &
bench=$!
enough() {
    [ "$(committed_tenants)" -ge 350 ] 2>/dev/null
}
# Waits, at most 2 s, for an intent being sent (polled every 5 ms in one statement), then
# tells the committed tenants, the intents' states, the worker's pid and the pgbench
# sessions in a transaction.
await_sending() {
    q "DO \$\$ BEGIN FOR i IN 1..400 LOOP
           EXIT WHEN EXISTS (SELECT FROM routerkeys.intent WHERE key_name LIKE '$P%' AND state = 'sending');
           PERFORM pg_sleep(0.005);
       END LOOP; END \$\$;
       SELECT (SELECT count(*) FROM tenants WHERE name LIKE '$P%'),
              (SELECT string_agg(state || ':' || c, ',' ORDER BY state) FROM (SELECT state, count(*) AS c FROM routerkeys.intent WHERE key_name LIKE '$P%' GROUP BY state) s),
              (SELECT pid FROM pg_stat_activity WHERE backend_type = 'routerkeys worker' AND datname = '$DB'),
              (SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND application_name = 'pgbench' AND xact_start IS NOT NULL)"
}
poll 30 enough
IFS='|' read -r at_stop before victim open_xacts <<<"$(await_sending)"
"${as_owner[@]}" "$pgbin/pg_ctl" -D "$RK_PGDATA" -m immediate -w stop >"$tmp/stop" 2>&1
stopped=$?
wait "$bench"
bench1=$?
bench=""
start_main
started=$?
poll 60 new_worker "$victim"
successor=$(worker_pid)
read -r commits1 rollbacks1 <<<"$(per_script "$tmp/pgbench1.out")"
aborted=$(grep -c 'client [0-9]* aborted' "$tmp/pgbench1.out")
[ "$stopped" = 0 ] && [ "$started" = 0 ] && [ "$bench1" != 0 ] && [ "$bench1" != 124 ] &&
    [ -n "$successor" ] && [ $((commits1 + rollbacks1)) -lt $((63 * CLIENTS)) ]
ok $? "phase one: $((commits1 + rollbacks1)) transactions ($commits1 committed, $rollbacks1 rolled back), then pg_ctl stop -m immediate with $at_stop tenants committed, $open_xacts sessions in a transaction, intents ${before:-none}: $aborted pgbench sessions aborted (exit $bench1); started again, the launcher's worker (pid ${successor:-none}, was ${victim:-none})"
[ "$stopped" = 0 ] || sed 's/^/#   /' "$tmp/stop"

# Phase two: the rest of the tenants (2 a transaction on average), every transaction to
# complete.
read -r committed1 rolled_back1 <<<"$(inserted)"
left_to_insert=$((TENANTS - committed1 - rolled_back1))
per_client=$(((left_to_insert + 2 * CLIENTS - 1) / (2 * CLIENTS)))
[ "$per_client" -ge 1 ] || per_client=1
run_bench "$per_client" "$tmp/pgbench2.out"
bench2=$?
read -r commits2 rollbacks2 <<<"$(per_script "$tmp/pgbench2.out")"
read -r committed_rows rolled_back_rows <<<"$(inserted)"
ran=$((commits1 + rollbacks1 + commits2 + rollbacks2))
rolled_back=$(q "SELECT count(*) FROM soak_rolled_back")
[ "$bench2" = 0 ] && [ $((commits2 + rollbacks2)) = $((per_client * CLIENTS)) ] &&
    [ "$rolled_back" -ge $((rollbacks1 + rollbacks2)) ] &&
    [ "$rolled_back" -le $((rollbacks1 + rollbacks2 + CLIENTS)) ] &&
    [ "$rolled_back" -ge $((ran * 20 / 100)) ] && [ "$rolled_back" -le $((ran * 40 / 100)) ]
ok $? "phase two: $((commits2 + rollbacks2)) of $((per_client * CLIENTS)) transactions ($commits2 committed, $rollbacks2 rolled back; exit $bench2); in all $ran transactions completed, $rolled_back of them ($((rolled_back * 100 / (ran > 0 ? ran : 1))) %) rolled back; $((committed_rows + rolled_back_rows)) tenants inserted ($committed_rows committed, $rolled_back_rows rolled back) in $(since "$start_all") s"
[ "$bench2" = 0 ] || tail -n 5 "$tmp/pgbench2.out" | sed 's/^/#   /'

# The drain: no intent pending or sending, none left to settle (settle_delay is 2 s).
open_or_settling() {
    [ "$(q "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE '$P%' AND (state IN ('pending', 'sending') OR settle_at IS NOT NULL)")" = 0 ]
}
start=$(date +%s%N)
poll 120 drained "$P"
drained_in=$(since "$start")
poll 60 open_or_settling
settled_in=$(since "$start")
after=$(states "$P")
read -r retried most <<<"$(q "SELECT count(*) FILTER (WHERE attempts > 1), max(attempts) FROM routerkeys.intent WHERE key_name LIKE '$P%'" | tr '|' ' ')"
committed=$(committed_tenants)
drained "$P" && open_or_settling && [[ "$after" =~ ^done:[0-9]+$ ]]
ok $? "the outbox drained ${drained_in} s after the last commit, settled after ${settled_in} s: intents $after"

# The faults, as the stub's log shows them: every one armed was answered, and every name
# answered with a fault was sent again later and made. The creates sent more than once:
# the names of more than one POST (the HTTP layer's retries of an attempt included, which
# the outbox does not count as attempts).
read -r left <<<"$(admin GET state | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults_armed"])')"
admin GET log >"$tmp/log.json"
read -r limited unavailable dropped posts faulted remade resent deletes <<<"$(python3 - "$tmp/log.json" "$P" <<'EOF'
import json, sys
entries = sorted(json.load(open(sys.argv[1]))["entries"], key=lambda e: e["seq"])
posts = [(e, json.loads(e["body"]).get("name", "") if e["body"] else "")
         for e in entries if e["method"] == "POST"]
posts = [(e, name) for e, name in posts if name.startswith(sys.argv[2])]
faulted = {name: e["seq"] for e, name in posts if e["fault"]}
remade = {name for e, name in posts
          if name in faulted and e["seq"] > faulted[name] and not e["fault"] and e["status"] < 300}
sent = {}
for e, name in posts:
    sent[name] = sent.get(name, 0) + 1
print(sum(1 for e, _ in posts if e["fault"] == "status" and e["status"] == 429),
      sum(1 for e, _ in posts if e["fault"] == "status" and e["status"] == 503),
      sum(1 for e, _ in posts if e["fault"] == "drop"), len(posts), len(faulted), len(remade),
      sum(1 for c in sent.values() if c > 1),
      sum(1 for e in entries if e["method"] == "DELETE" and e["status"] < 300))
EOF
)"
answered=$((limited + unavailable + dropped))
[ "$armed" = 36 ] && [ "$left" = 0 ] && [ "$limited" = 12 ] && [ "$unavailable" = 12 ] &&
    [ "$dropped" = 12 ] && [ "${faulted:-0}" -ge 1 ] && [ "$remade" = "$faulted" ]
ok $? "faults: $answered of $armed answered ($left left): $limited 429s with Retry-After 1, $unavailable 503s, $dropped answers dropped after the key was made, to $faulted names, all $remade sent again and made; $posts POSTs, $resent creates sent more than once ($retried intents over more than one outbox attempt, at most $most), $deletes keys deleted"

# The rolled-back transactions left nothing: no row, no intent, no key, no token. The
# committed transactions are those pgbench saw commit, and perhaps some whose COMMIT the
# stop cut off (at most one a session).
txns=$(q "SELECT count(DISTINCT split_part(name, '-', 2)) FROM tenants WHERE name LIKE '$P%'")
commits=$((commits1 + commits2))
read -r rows_rb intents_rb keys_rb tokens_rb <<<"$(q "SELECT (SELECT count(*) FROM tenants WHERE name LIKE '${P}rb%'), (SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE '${P}rb%'), (SELECT count(*) FROM routerkeys.list_keys(search => '${P}rb', server => 'stub') WHERE name LIKE '${P}rb%'), (SELECT count(*) FROM tokens WHERE tenant LIKE '${P}rb%')" | tr '|' ' ')"
[ "$rows_rb" = 0 ] && [ "$intents_rb" = 0 ] && [ "$keys_rb" = 0 ] && [ "$tokens_rb" = 0 ] &&
    [ "${txns:-0}" -ge "$commits" ] && [ "$txns" -le $((commits + CLIENTS)) ]
ok $? "rollbacks: the $rolled_back rolled-back transactions ($rolled_back_rows tenants) left $rows_rb rows, $intents_rb intents, $keys_rb keys, $tokens_rb tokens; $txns transactions committed ($commits seen by pgbench, $((txns - commits)) cut off by the stop)"

# The exact match: the committed tenants are exactly the rows of the table.
verify "$P" "$committed" "soak of $((committed_rows + rolled_back_rows)) tenants in $ran transactions ($txns committed, $rolled_back rolled back) across an immediate restart, $answered faults answered ($limited 429, $unavailable 503, $dropped dropped), $resent intents sent more than once ($retried over more than one outbox attempt)"
echo "# $(since "$start_all") s from the first transaction"

[ "$failed" -eq 0 ]
