-- retries: at most one key per create, whatever the service or the network does, and one
-- retry policy bounded per call. The stub's request log shows what went out.
--  * libcurl never re-sends a request by itself: a create whose answer is lost on a
--    kept-alive connection reaches routerkeys' own resolution.
--  * When the service finished with a create but its answer is lost (the connection closed,
--    a 5xx, a body cut short), routerkeys looks the name up, deletes the key this call's
--    attempt made (measured on the service's clock; nobody holds its token) and sends the
--    create again. A key of that name that existed before the call is left alone.
--  * A create that timed out before any answer is not sent again: the service may still
--    carry it out. The call fails (08006), and the name is recorded for a follow-up check.
--  * GET, PATCH and DELETE are retried; Retry-After is delay-seconds or an HTTP date, and
--    a wait never goes past what is left of retry_max_wait_ms.
-- Calls act at once here, so that each request is seen as it is sent and each failure
-- where it happens (transactions.sql shows the default, where updates and deletes wait
-- for COMMIT).
SET routerkeys.transactional = off;
SELECT stubctl.reset();
CREATE FUNCTION pg_temp.requests()
RETURNS TABLE (method text, path text, query text, status int)
LANGUAGE sql AS $$
    SELECT method, regexp_replace(path, '[0-9A-Z]{26}', '<id>'), query, status FROM stubctl.log()
$$;
-- The keys of one name in the stub, and whether the token the call returned is theirs.
CREATE FUNCTION pg_temp.named(n text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM routerkeys.list_keys(search => n) k WHERE k.name = n $$;

-- 1. The key was made, then the connection closed without a byte of the answer, on a
-- connection kept alive from the request before (libcurl would send the POST again on its
-- own, and two keys would exist). Here: the lost attempt, the look-up, the delete of the
-- key it made, one more POST. One key, with the token the call returned. (The create
-- before keeps the connection alive and tells this backend the service's clock, from the
-- new key's creation time.)
SELECT name FROM routerkeys.create_key('warm-up');
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"drop","method":"POST","count":1}');
SELECT name, token LIKE 'sk-orq-' || id || '-%' AS has_token FROM routerkeys.create_key('dropped-warm');
SELECT * FROM pg_temp.requests();
SELECT pg_temp.named('dropped-warm') AS keys_named;

-- The same, the connection closed in the middle of the answer.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"reset","method":"POST","count":1}');
SELECT name, token LIKE 'sk-orq-' || id || '-%' AS has_token FROM routerkeys.create_key('lost-answer');
SELECT * FROM pg_temp.requests();
SELECT pg_temp.named('lost-answer') AS keys_named;

-- The key was made, then a gateway answered 504: the service was done with it.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":504,"apply":true,"method":"POST","count":1}');
SELECT name FROM routerkeys.create_key('gateway-timeout');
SELECT * FROM pg_temp.requests();
SELECT pg_temp.named('gateway-timeout') AS keys_named;

-- A 503 that made nothing: the look-up finds nothing, the create goes again.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":503,"method":"POST","count":1}');
SELECT name FROM routerkeys.create_key('unavailable');
SELECT * FROM pg_temp.requests();

-- The key was made, but the answer was cut short: its token is unreadable.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"truncate","method":"POST","count":1}');
SELECT name, token IS NOT NULL AS has_token FROM routerkeys.create_key('cut-short');
SELECT method, status FROM pg_temp.requests();
SELECT pg_temp.named('cut-short') AS keys_named;

-- 2. No answer within timeout_ms: one POST, an error saying the key may still appear,
-- and the name in the follow-up record. (The stub carries the create out a moment later:
-- that key is the follow-up check's to remove.)
ALTER SERVER stub OPTIONS (ADD timeout_ms '300');
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"delay_headers","ms":800,"method":"POST","count":1}');
SELECT code, message, regexp_replace(detail, 'after \d+ milliseconds', 'after N milliseconds') AS detail, hint
FROM stubctl.try($$SELECT routerkeys.create_key('slow')$$);
ALTER SERVER stub OPTIONS (DROP timeout_ms);
SELECT method, status FROM pg_temp.requests();
SELECT pg_sleep(1);
SELECT pg_temp.named('slow') AS keys_named;
-- The worker takes the follow-up into the outbox as a check of the name; once
-- routerkeys.settle_delay has passed it deletes the late key, whose token nobody holds.
SELECT stubctl.wait_until($$EXISTS (SELECT FROM routerkeys.outbox WHERE operation = 'check' AND key_name = 'slow')$$);
SELECT operation, key_name, server, enqueued_by = current_user::regrole AS mine,
       abs(extract(epoch FROM now() - (arguments->>'since')::timestamptz)) < 30 AS sent_just_now
FROM routerkeys.outbox WHERE operation = 'check' AND key_name = 'slow';
SELECT stubctl.wait_until($$(SELECT state = 'done' FROM routerkeys.outbox WHERE operation = 'check' AND key_name = 'slow')$$);
SELECT pg_temp.named('slow') AS keys_named_after_the_check;

-- 3. Another client made a key of the same name a moment before (the account allows
-- duplicates). This call's answer is lost: only the key this call made is deleted.
SELECT stubctl.unique_names(false);
SELECT stubctl.seed_named('shared-name') AS other_id \gset
SELECT pg_sleep(0.1);
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"drop","method":"POST","count":1}');
SELECT name, id <> :'other_id' AS a_new_key FROM routerkeys.create_key('shared-name');
SELECT method, status FROM pg_temp.requests();
SELECT count(*) AS keys_named, bool_or(id = :'other_id') AS other_key_kept
FROM routerkeys.list_keys(search => 'shared-name') WHERE name = 'shared-name';
SELECT stubctl.unique_names(true);

-- When every attempt is lost, the call fails, and no key is left behind: max_retries 1
-- is two POSTs in all (each lost one looked up and removed), never more.
ALTER SERVER stub OPTIONS (ADD max_retries '1');
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"reset","method":"POST","count":-1}');
SELECT code, message FROM stubctl.try($$SELECT routerkeys.create_key('never')$$);
SELECT stubctl.clear_faults();
SELECT * FROM pg_temp.requests();
SELECT pg_temp.named('never') AS keys_named;

-- 7. Mixed faults on one create: 429, a lost answer, 503, 429 ... still at most
-- max_retries + 1 = 2 POSTs, and the waits within retry_max_wait_ms.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"0","method":"POST","count":1}');
SELECT stubctl.fault('{"kind":"reset","method":"POST","count":1}');
SELECT stubctl.fault('{"kind":"status","status":503,"method":"POST","count":-1}');
SELECT code, message FROM stubctl.try($$SELECT routerkeys.create_key('mixed')$$);
SELECT stubctl.clear_faults();
SELECT count(*) FILTER (WHERE method = 'POST') AS posts FROM stubctl.log();
SELECT pg_temp.named('mixed') AS keys_named;
ALTER SERVER stub OPTIONS (DROP max_retries);

-- A create the service refused (409) is not ambiguous: one request, an error.
SELECT stubctl.clear_log();
SELECT code FROM stubctl.try($$SELECT routerkeys.create_key('cut-short')$$);
SELECT count(*) AS requests FROM stubctl.log();

-- 6. Retry-After: delay-seconds or an HTTP date; anything else is ignored (the backoff
-- applies, so each of these is retried at once and the call succeeds).
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"inf","method":"GET","count":1}');
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"1e400","method":"GET","count":1}');
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"0x10","method":"GET","count":1}');
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"-1","method":"GET","count":1}');
ALTER SERVER stub OPTIONS (ADD max_retries '4');
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) > 0 AS listed FROM routerkeys.list_keys();
SELECT clock_timestamp() - :'t0' < interval '5 seconds' AS no_long_wait;
ALTER SERVER stub OPTIONS (DROP max_retries);
SELECT count(*) FILTER (WHERE status = 429) AS rate_limited FROM stubctl.log();
-- A Retry-After longer than what is left of retry_max_wait_ms is not waited for: the call
-- fails at once, and the hint says how long the service asked for.
ALTER SERVER stub OPTIONS (ADD retry_max_wait_ms '2000');
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"5","method":"GET","count":1}');
SELECT clock_timestamp() AS t0 \gset
SELECT code, message, hint FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
SELECT clock_timestamp() - :'t0' < interval '1 second' AS failed_at_once;
SELECT count(*) FILTER (WHERE status = 429) AS attempts FROM stubctl.log();
-- One that fits is waited for, and the call succeeds.
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"1","method":"GET","count":1}');
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) >= 0 AS listed FROM routerkeys.keys;
SELECT clock_timestamp() - :'t0' >= interval '1 second' AS waited;
ALTER SERVER stub OPTIONS (DROP retry_max_wait_ms);

-- A delete whose answer was lost is retried; the retry's 404 means it was done.
SELECT stubctl.fault('{"kind":"reset","method":"DELETE","count":1}');
SELECT routerkeys.delete_key(id) FROM routerkeys.list_keys(search => 'cut-short');
SELECT pg_temp.named('cut-short') AS keys_named;
-- The same on a kept-alive connection closed without an answer.
SELECT stubctl.fault('{"kind":"drop","method":"DELETE","count":1}');
SELECT routerkeys.delete_key(id) FROM routerkeys.list_keys(search => 'lost-answer');
SELECT pg_temp.named('lost-answer') AS keys_named;
-- An update whose answer was lost is repeated: it sets the same values again.
SELECT stubctl.fault('{"kind":"reset","method":"PATCH","count":1}');
SELECT name, active FROM routerkeys.update_key((SELECT id FROM routerkeys.list_keys(search => 'unavailable')), active => false);
SELECT stubctl.live_keys();

-- 3, in a new backend, which knows the service's clock only from Date headers (whole
-- seconds): before it decides which key is its own, it learns the clock to 100 ms from
-- small requests 40 ms apart until the service's second ticks, and the other client's
-- key, made 150 ms before, is kept again.
\c
SELECT stubctl.unique_names(false);
SELECT stubctl.seed_named('shared-fresh') AS other_id \gset
SELECT pg_sleep(0.15);
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"drop","method":"POST","count":1}');
SELECT name, id <> :'other_id' AS a_new_key FROM routerkeys.create_key('shared-fresh');
SELECT count(*) AS keys_named, bool_or(id = :'other_id') AS other_key_kept
FROM routerkeys.list_keys(search => 'shared-fresh') WHERE name = 'shared-fresh';
SELECT count(*) FILTER (WHERE method = 'POST') AS posts,
       count(*) FILTER (WHERE method = 'DELETE') AS deletes,
       count(*) FILTER (WHERE query LIKE '%limit=1') BETWEEN 1 AND 30 AS clock_requests
FROM stubctl.log();
SELECT stubctl.unique_names(true);
