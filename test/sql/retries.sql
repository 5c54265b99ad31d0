-- retries: a create is never sent twice blindly. When its answer may be lost (the
-- connection dropped mid-answer, a timeout, a 5xx, a body cut short), routerkeys looks
-- the name up, deletes the key the lost create made (nobody ever saw its token), and
-- only then creates again: one key, with its token, every time. GET, PATCH and DELETE
-- are simply retried.
SELECT stubctl.reset();
CREATE FUNCTION pg_temp.requests()
RETURNS TABLE (method text, path text, query text, status int)
LANGUAGE sql AS $$
    SELECT method, regexp_replace(path, '[0-9A-Z]{26}', '<id>'), query, status FROM stubctl.log()
$$;

-- The key was made, then the connection dropped in the middle of the answer.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"reset","method":"POST","count":1}');
SELECT name, token LIKE 'sk-orq-' || id || '-%' AS has_token FROM routerkeys.create_key('lost-answer');
SELECT * FROM pg_temp.requests();
SELECT stubctl.live_keys();

-- The key was made, then a gateway answered 504.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":504,"apply":true,"method":"POST","count":1}');
SELECT name FROM routerkeys.create_key('gateway-timeout');
SELECT * FROM pg_temp.requests();

-- A 503 that made nothing: the look-up finds nothing, the create goes again.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":503,"method":"POST","count":1}');
SELECT name FROM routerkeys.create_key('unavailable');
SELECT * FROM pg_temp.requests();

-- The key was made, but the answer was cut short: its token is unreadable.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"truncate","method":"POST","count":1}');
SELECT name, token IS NOT NULL AS has_token FROM routerkeys.create_key('cut-short');
SELECT count(*) AS requests FROM stubctl.log();

-- No answer within timeout_ms.
ALTER SERVER stub OPTIONS (ADD timeout_ms '300');
SELECT stubctl.fault('{"kind":"delay_headers","ms":1000,"method":"POST","count":1}');
SELECT name FROM routerkeys.create_key('slow');
ALTER SERVER stub OPTIONS (DROP timeout_ms);
SELECT pg_sleep(1);
SELECT name, count(*) FROM routerkeys.keys GROUP BY name ORDER BY name;

-- When every attempt is lost, the call fails, and no key is left behind.
ALTER SERVER stub OPTIONS (ADD max_retries '1');
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"reset","method":"POST","count":-1}');
SELECT code, message FROM stubctl.try($$SELECT routerkeys.create_key('never')$$);
SELECT stubctl.clear_faults();
SELECT * FROM pg_temp.requests();
SELECT count(*) FROM routerkeys.list_keys(search => 'never');
ALTER SERVER stub OPTIONS (DROP max_retries);

-- A create the service refused (409) is not ambiguous: one request, an error.
SELECT stubctl.clear_log();
SELECT code FROM stubctl.try($$SELECT routerkeys.create_key('slow')$$);
SELECT count(*) AS requests FROM stubctl.log();

-- A delete whose answer was lost is retried; the retry's 404 means it was done.
SELECT stubctl.fault('{"kind":"reset","method":"DELETE","count":1}');
SELECT routerkeys.delete_key(id) FROM routerkeys.list_keys(search => 'slow');
SELECT count(*) FROM routerkeys.list_keys(search => 'slow');
-- An update whose answer was lost is repeated: it sets the same values again.
SELECT stubctl.fault('{"kind":"reset","method":"PATCH","count":1}');
SELECT name, active FROM routerkeys.update_key((SELECT id FROM routerkeys.list_keys(search => 'unavailable')), active => false);
SELECT stubctl.live_keys();
