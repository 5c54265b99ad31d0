#!/usr/bin/env bash
# TAP suite: durable provisioning against real processes. Tenants are inserted through the
# provision() trigger (key id written back, token delivered by a function that inserts into
# a table), and the worker drains the outbox while it is
#   1. killed with SIGKILL mid-drain (the cluster's crash restart; the launcher restarts it);
#   2. stopped with pg_ctl stop -m immediate mid-drain, the cluster started again, with no
#      commit after the start (the preloaded launcher resumes the drain by itself);
#   3. answered by a storm of 429s with Retry-After;
#   4. facing a service that is down for 30 s (the stub's /__admin/down);
#   5. on a server with timeout_ms 300 whose creates are carried out late (delay_headers),
#      until every intent is settled (routerkeys.settle_delay is 2 s in run.sh's cluster);
#   6. given a batch of transactions of which a third roll back;
#   7. in a second cluster of its own, without shared_preload_libraries: the commit starts
#      the worker.
# After each, the stub's keys of the scenario's name prefix must be exactly the committed
# creates: one key per committed tenant, named as its intent (0 orphans, 0 missing,
# 0 duplicates: the stub allows duplicate names so that a second key would show), the id
# written back equal to that key's, and the token delivered once, the token of that key
# (the set-up, the check and the helpers are in outbox.bash, shared with outbox_soak.sh).
# Run by test/run.sh after pg_regress, with PGHOST/PGPORT/PGUSER, RK_STUB_URL,
# RK_SERVER_LOG, RK_PGDATA and RK_AS_OWNER set. Bounded: every wait polls at most 60 s;
# the suite takes about 70 s (at most about 2 minutes), 30 s of which the service is down.
set -u

DB=rk_tap_outbox
KEY=rk-test-provisioning-valid
tmp=$(mktemp -d)
chmod 755 "$tmp"
pgbin=$("${PG_CONFIG:-pg_config}" --bindir)
# shellcheck disable=SC2206 # a command prefix, split into words on purpose
as_owner=(${RK_AS_OWNER:-})
poller=""
dyn=""          # the data folder's parent of the second cluster, once made
dyn_port=""
n=0
failed=0

cleanup() {
    [ -n "$poller" ] && kill "$poller" 2>/dev/null
    if [ -n "$dyn" ]; then
        [ -f "$dyn/data/postmaster.pid" ] &&
            "${as_owner[@]}" "$pgbin/pg_ctl" -D "$dyn/data" -m fast -w stop >/dev/null 2>&1
        rm -rf "$dyn"
    fi
    outbox_cleanup
}
trap cleanup EXIT

# shellcheck source=outbox.bash
. "$(dirname "$0")/outbox.bash"

# The same in the second cluster.
qd() {
    psql -X -q -A -t -h "$dyn" -p "$dyn_port" -d "$DB" -c "$1" 2>&1
}

echo "1..18"

admin POST reset >/dev/null
admin POST config '{"unique_names":false}' >/dev/null
outbox_setup
ok $? "set-up: the extension, two servers on the stub, tenant tables with the provision() trigger, a token table, the check"
sed 's/^/#   /' "$tmp/setup.out"

# The check can fail: a tenant row with no key and a token of another key, beside two keys
# of one name that no tenant has (the trigger is off for the rows: no intent).
admin POST seed '{"name":"ob0-stray"}' >/dev/null
admin POST seed '{"name":"ob0-stray"}' >/dev/null
q "SET session_replication_role = replica;
   INSERT INTO tenants VALUES ('ob0-lost', '01H0000000000000000000LOST');
   INSERT INTO tokens VALUES ('ob0-lost', '01H0000000000000000000LOST', 'sk-orq-other-x')" >/dev/null
got=$(q "SELECT concat_ws(' ', committed, intents, done, keys, orphans, missing, duplicates, written_back, tokens_once, tokens) FROM check_prefix('ob0-')")
[ "$got" = "1 0 0 2 2 1 1 0 0 1" ]
ok $? "the check sees what is wrong: 1 tenant, 0 intents, 2 keys -> 2 orphans, 1 missing, 1 duplicate, 0 written back, 0 tokens right (got: $got)"
q "SET session_replication_role = replica; DELETE FROM tenants WHERE name LIKE 'ob0-%'; DELETE FROM tokens WHERE tenant LIKE 'ob0-%'" >/dev/null

# ---- 1. SIGKILL of the worker mid-drain. The stub's latency (100 ms a request, 16 in
# flight) makes the first round of 256 creates take about 1.6 s; the worker is killed once
# 100 keys are made. The postmaster restarts every backend; the launcher the worker.
admin POST config '{"latency_ms":100}' >/dev/null
base=$(stub_keys)
logpos=$(stat -c %s "$RK_SERVER_LOG")
q "INSERT INTO tenants (name) SELECT 'ob1-' || g FROM generate_series(1, 400) g" >/dev/null
made_enough() {
    local k
    k=$(stub_keys)
    [ $((${k:-0} - base)) -ge 100 ]
}
poll 30 made_enough
made=$(($(stub_keys) - base))
before=$(states ob1-)
victim=$(worker_pid)
[ -n "$victim" ] && "${as_owner[@]}" kill -9 "$victim"
admin POST config '{"latency_ms":0}' >/dev/null
start=$(date +%s%N)
poll 60 new_worker "$victim"
successor=$(worker_pid)
poll 60 drained ob1-
took=$(since "$start")
resent=$(q "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE 'ob1-%' AND attempts > 1")
tail -c +$((logpos + 1)) "$RK_SERVER_LOG" >"$tmp/log1"
[ -n "$victim" ] && [ -n "$successor" ] && [ "$made" -ge 100 ] && [ "$made" -lt 400 ] &&
    [[ "$before" == *sending* ]] && grep -q "(PID $victim) was terminated by signal 9" "$tmp/log1" &&
    grep -q "all server processes terminated; reinitializing" "$tmp/log1" && drained ob1-
ok $? "SIGKILL of the worker (pid ${victim:-none}) mid-drain, with $made keys made and intents $before; crash restart; the launcher's new worker (pid ${successor:-none}) drained ${took} s after the kill, $resent intents sent again"
verify ob1- 400 "after SIGKILL mid-drain"

# ---- 2. pg_ctl stop -m immediate mid-drain, then start: no commit after the start.
admin POST config '{"latency_ms":100}' >/dev/null
base=$(stub_keys)
q "INSERT INTO tenants (name) SELECT 'ob2-' || g FROM generate_series(1, 400) g" >/dev/null
poll 30 made_enough
made=$(($(stub_keys) - base))
before=$(states ob2-)
victim=$(worker_pid)
"${as_owner[@]}" "$pgbin/pg_ctl" -D "$RK_PGDATA" -m immediate -w stop >"$tmp/stop2" 2>&1
stopped=$?
admin POST config '{"latency_ms":0}' >/dev/null
start_main
started=$?
start=$(date +%s%N)
poll 60 new_worker "$victim"
successor=$(worker_pid)
launcher=$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'routerkeys launcher'")
poll 60 drained ob2-
took=$(since "$start")
resent=$(q "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE 'ob2-%' AND attempts > 1")
[ "$stopped" = 0 ] && [ "$started" = 0 ] && [ -n "$successor" ] && [ "$launcher" = 1 ] &&
    [ "$made" -ge 100 ] && [ "$made" -lt 400 ] && [[ "$before" == *sending* ]] && drained ob2-
ok $? "pg_ctl stop -m immediate mid-drain ($made keys made, intents $before), start: the launcher ($launcher) started a worker (pid ${successor:-none}) that drained ${took} s after the start, with no new commit, $resent intents sent again"
verify ob2- 400 "after an immediate stop and start mid-drain"

# ---- 3. A storm of 429s: the first 40 creates are answered 429 with Retry-After 1. The
# stub's log is read every 10 ms meanwhile, each entry with the time of the read before
# the one that showed it (it was logged after that) and the time of that read's answer.
admin DELETE log >/dev/null
fault '{"kind":"status","status":429,"retry_after":"1","method":"POST","count":40}'
cat >"$tmp/poll.py" <<'EOF'
import json, os, sys, time, urllib.request
url, out, stop = sys.argv[1:4]
since, before = 0, time.monotonic()
with open(out, "w") as f:
    while not os.path.exists(stop):
        asked = time.monotonic()
        try:
            with urllib.request.urlopen(f"{url}/__admin/log?since={since}", timeout=5) as r:
                entries = json.load(r)["entries"]
        except Exception:
            time.sleep(0.05)
            continue
        answered = time.monotonic()
        for e in entries:
            since = max(since, e["seq"])
            name = json.loads(e["body"]).get("name", "") if e["method"] == "POST" and e["body"] else ""
            f.write(f"{before:.4f} {answered:.4f} {e['seq']} {e['method']} {e['status']} {name}\n")
        f.flush()
        before = asked
        time.sleep(0.01)
EOF
python3 "$tmp/poll.py" "$RK_STUB_URL" "$tmp/log3" "$tmp/stop3" &
poller=$!
sleep 0.3
start=$(date +%s%N)
q "INSERT INTO tenants (name) SELECT 'ob3-' || g FROM generate_series(1, 300) g" >/dev/null
poll 60 drained ob3-
took=$(since "$start")
sleep 0.3
touch "$tmp/stop3"
wait "$poller"
poller=""
left=$(admin GET state | python3 -c 'import json,sys; print(json.load(sys.stdin)["faults_armed"])')
limited=$(awk '$4 == "POST" && $5 == 429' "$tmp/log3" | wc -l)
# The names answered 429, as a SQL array literal.
names=$(awk '$4 == "POST" && $5 == 429 {print $6}' "$tmp/log3" | sort -u | paste -sd, -)
created=$(awk '$4 == "POST" && $5 == 200 && $6 ~ /^ob3-/ {print $6}' "$tmp/log3" | sort -u | wc -l)
posted=$(awk '$4 == "POST" && $5 == 200 && $6 ~ /^ob3-/' "$tmp/log3" | wc -l)
# Each rate-limited intent was made once its Retry-After had passed, and a 429 does not
# count as an attempt (README): every intent of the storm is done after one.
read -r retried waited most <<<"$(q "SELECT count(*), count(*) FILTER (WHERE state = 'done' AND done_at - enqueued_at >= interval '1 second'), (SELECT max(attempts) FROM routerkeys.intent WHERE key_name LIKE 'ob3-%') FROM routerkeys.intent WHERE key_name = ANY ('{${names}}'::text[])" | tr '|' ' ')"
distinct=$(awk '$4 == "POST" && $5 == 429 {print $6}' "$tmp/log3" | sort -u | wc -l)
[ "$left" = 0 ] && [ "$limited" = 40 ] && [ "${retried:-0}" -ge 1 ] && [ "$retried" = "$distinct" ] &&
    [ "$waited" = "$retried" ] &&
    [ "$most" = 1 ] && [ "$created" = 300 ] && [ "$posted" = 300 ] && drained ob3-
ok $? "429 storm: all 40 answered 429 ($left left), to $retried intents ($distinct names), $waited of them made at least 1 s after their commit; all done in ${took} s, with at most $most attempt (a 429 does not count); 300 names created with $posted successful POSTs"
# A POST logged less than 0.5 s after a 429 for sure (logged before the read that showed
# it answered, the 429 after the read before its own began) was sent without waiting out
# the Retry-After, unless it was in flight already: at most max_concurrency - 1 (15).
burst=$(python3 - "$tmp/log3" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
worst = 0
for lo, hi, seq, method, status, *_ in rows:
    if method == "POST" and status == "429":
        after = [r for r in rows if r[3] == "POST" and int(r[2]) > int(seq)
                 and float(r[1]) - float(lo) < 0.5]
        worst = max(worst, len(after))
print(worst)
EOF
)
[ "${burst:-99}" -le 15 ]
ok $? "Retry-After is waited out: at most $burst POSTs followed a 429 answer within 0.5 s (15 may have been in flight)"
verify ob3- 300 "after the 429 storm"

# ---- 4. The service down for 30 s: the intents are committed while it refuses
# connections; they are retried with backoff (1 s doubling) and end done once it is back.
# Six attempts fit in 30 s at the most (0.5 + 1 + 2 + 4 + 8 + 16 s at the least between
# them), the next comes at most 32 s after: the wait after it is back is bounded by 60 s.
if admin POST down '{"seconds":30}' | grep -q '"ok":true'; then
    start=$SECONDS
    sleep 0.5
    curl -s -m 2 -o /dev/null "$RK_STUB_URL/__admin/state"
    refused=$?
    for s in 1 2 3; do
        psql -X -q -d "$DB" -c "INSERT INTO tenants (name) SELECT 'ob4-$s-' || g FROM generate_series(1, 100) g" >/dev/null 2>&1 &
    done
    wait
    committed=$(q "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE 'ob4-%' AND state IN ('pending', 'sending')")
    sleep 5
    open_while_down=$(q "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE 'ob4-%' AND state IN ('pending', 'sending') AND attempts > 0")
    stub_up() {
        curl -s -m 2 -o /dev/null "$RK_STUB_URL/__admin/state"
    }
    poll 40 stub_up
    back=$((SECONDS - start))
    poll 60 drained ob4-
    took=$((SECONDS - start - back))
    read -r least most dead <<<"$(q "SELECT min(attempts), max(attempts), count(*) FILTER (WHERE state <> 'done') FROM routerkeys.intent WHERE key_name LIKE 'ob4-%'" | tr '|' ' ')"
    [ "$refused" = 7 ] && [ "$committed" = 300 ] && [ "$open_while_down" = 300 ] &&
        [ "$back" -ge 29 ] && [ "$back" -le 35 ] && [ "${least:-0}" -ge 3 ] &&
        [ "${most:-99}" -lt 10 ] && [ "$dead" = 0 ] && drained ob4-
    ok $? "service down for 30 s (connections refused: curl $refused): $committed intents committed meanwhile, $open_while_down still open and tried; back after ${back} s, all done ${took} s later with $least to $most attempts (max_attempts 10)"
    verify ob4- 300 "after 30 s of the service down"
else
    ok 0 "# SKIP the stub has no /__admin/down"
    ok 0 "# SKIP the stub has no /__admin/down"
fi

# ---- 5. Creates carried out late: on the server with timeout_ms 300, the first 30 creates
# are answered after 1.5 s, the create made then (after the worker gave up): the worker
# looks the name up before it sends again, and again once the settle delay has passed.
admin DELETE log >/dev/null
fault '{"kind":"delay_headers","ms":1500,"method":"POST","count":30}'
start=$(date +%s%N)
q "INSERT INTO tenants_slow (name) SELECT 'ob5-' || g FROM generate_series(1, 200) g" >/dev/null
settled() {
    [ "$(q "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE 'ob5-%' AND (state IN ('pending', 'sending') OR settle_at IS NOT NULL)")" = 0 ]
}
poll 60 drained ob5-
poll 60 settled
took=$(since "$start")
late=$(admin GET log | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["entries"] if e["method"] == "POST" and e["fault"] == "delay_headers" and e["status"] == 200))')
retried=$(q "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE 'ob5-%' AND attempts > 1")
[ "$late" = 30 ] && [ "${retried:-0}" -ge 30 ] && settled
ok $? "late creates: $late creates carried out after their 300 ms timeout, $retried intents sent again; all done and settled (settle_at null) in ${took} s"
verify ob5- 200 "after creates carried out late and the settle delay"

# ---- 6. Rollbacks: three sessions run 50 transactions each, of two tenants; every third
# transaction rolls back (48 of 150: 96 names), the rest commit (204 tenants).
for s in 1 2 3; do
    for t in $(seq 50); do
        echo "BEGIN;"
        echo "INSERT INTO tenants (name) VALUES ('ob6-$s-$t-a'), ('ob6-$s-$t-b');"
        if [ $((t % 3)) = 0 ]; then echo "ROLLBACK;"; else echo "COMMIT;"; fi
    done >"$tmp/session6-$s.sql"
    psql -X -q -d "$DB" -f "$tmp/session6-$s.sql" >"$tmp/session6-$s.out" 2>&1 &
done
wait
poll 60 drained ob6-
rolled_back="split_part(key_name, '-', 3)::int % 3 = 0"
intents_rb=$(q "SELECT count(*) FROM routerkeys.intent WHERE key_name LIKE 'ob6-%' AND $rolled_back")
keys_rb=$(q "SELECT count(*) FROM (SELECT name AS key_name FROM routerkeys.list_keys(search => 'ob6-', server => 'stub') WHERE name LIKE 'ob6-%') k WHERE $rolled_back")
rows_rb=$(q "SELECT count(*) FROM tenants WHERE name LIKE 'ob6-%' AND split_part(name, '-', 3)::int % 3 = 0")
errors=$(cat "$tmp"/session6-*.out | wc -l)
[ "$intents_rb" = 0 ] && [ "$keys_rb" = 0 ] && [ "$rows_rb" = 0 ] && [ "$errors" = 0 ]
ok $? "rollbacks: 48 of 150 transactions rolled back (96 tenants): $rows_rb rows, $intents_rb intents, $keys_rb keys of theirs ($errors lines of errors)"
verify ob6- 204 "after 150 transactions, a third rolled back"

# ---- 7. Dynamic mode: a cluster of our own without shared_preload_libraries. No
# routerkeys process runs until a transaction that wrote intents commits; that starts the
# worker, which drains them.
dyn=$(mktemp -d /tmp/rk-tap-outbox.XXXXXX)
chmod 755 "$dyn"
[ "${#as_owner[@]}" -gt 0 ] && chown postgres "$dyn"
dyn_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_owner[@]}" "$pgbin/initdb" -D "$dyn/data" -U postgres -A trust --no-sync >"$tmp/initdb7" 2>&1 &&
    cat >>"$dyn/data/postgresql.conf" <<EOF &&
listen_addresses = ''
unix_socket_directories = '$dyn'
port = $dyn_port
fsync = off
log_line_prefix = '%m [%p] %q%u@%d '
lc_messages = 'C'
EOF
    RK_TEST_PROVISIONING_KEY=$KEY "${as_owner[@]}" "$pgbin/pg_ctl" -D "$dyn/data" \
        -l "$dyn/server.log" -w start >"$tmp/start7" 2>&1 &&
    psql -X -q -h "$dyn" -p "$dyn_port" -d postgres -c "CREATE DATABASE $DB" >"$tmp/setup7" 2>&1 &&
    psql -X -q -h "$dyn" -p "$dyn_port" -d "$DB" -v ON_ERROR_STOP=1 -v url="$RK_STUB_URL" \
        -v key="$KEY" -f "$tmp/setup.sql" >>"$tmp/setup7" 2>&1
made=$?
preload=$(qd "SHOW shared_preload_libraries")
idle=$(qd "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'routerkeys%'")
dyn_worker=""
dyn_worker_up() {
    dyn_worker=$(qd "SELECT pid FROM pg_stat_activity WHERE backend_type = 'routerkeys worker' AND datname = '$DB'" | grep -E '^[0-9]+$')
    [ -n "$dyn_worker" ]
}
start=$(date +%s%N)
if [ "$made" = 0 ]; then
    qd "INSERT INTO tenants (name) SELECT 'ob7-' || g FROM generate_series(1, 200) g" >/dev/null
    poll 30 dyn_worker_up
    poll 60 drained ob7- qd
fi
took=$(since "$start")
launchers=$(qd "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'routerkeys launcher'")
[ "$made" = 0 ] && [ -z "$preload" ] && [ "$idle" = 0 ] && [ -n "$dyn_worker" ] &&
    [ "$launchers" = 0 ] && drained ob7- qd
ok $? "dynamic mode: a cluster without shared_preload_libraries ('$preload'), $idle routerkeys processes before the commit; the commit started a worker (pid ${dyn_worker:-none}, no launcher: $launchers), drained in ${took} s"
[ "$made" = 0 ] || sed 's/^/#   /' "$tmp/initdb7" "$tmp/start7" "$tmp/setup7" | tail -n 20
verify ob7- 200 "in dynamic mode" qd
"${as_owner[@]}" "$pgbin/pg_ctl" -D "$dyn/data" -m fast -w stop >/dev/null 2>&1
stopped=$?
rm -rf "$dyn"
dyn=""
[ "$stopped" = 0 ]
ok $? "the second cluster stopped"

[ "$failed" -eq 0 ]
