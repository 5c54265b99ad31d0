-- errors: every way a call can fail, and what the user sees: a SQLSTATE, a message
-- naming the server, the remote message in DETAIL, a HINT when the user can act.
-- Retries: GET, PATCH and DELETE retry 429/502/503/504 and lost connections (creates:
-- see retries.sql). After every failure the session goes on.
-- Calls act at once here, so that each request is seen as it is sent and each failure
-- where it happens (transactions.sql shows the default, where updates and deletes wait
-- for COMMIT).
SET routerkeys.transactional = off;
SELECT stubctl.reset();
CREATE TEMP TABLE k AS SELECT id FROM routerkeys.create_key('errors-victim');
\x on

-- 401: a wrong, a disabled and a revoked provisioning key.
ALTER USER MAPPING FOR CURRENT_USER SERVER stub OPTIONS (SET provisioning_key 'rk-test-wrong');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
ALTER USER MAPPING FOR CURRENT_USER SERVER stub OPTIONS (SET provisioning_key 'rk-test-provisioning-disabled');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
ALTER USER MAPPING FOR CURRENT_USER SERVER stub OPTIONS (SET provisioning_key 'rk-test-provisioning-revoked');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
ALTER USER MAPPING FOR CURRENT_USER SERVER stub OPTIONS (SET provisioning_key 'rk-test-provisioning-valid');

-- 404 on an update is an error (on a get it is no row, on a delete false).
SELECT * FROM stubctl.try($$SELECT routerkeys.update_key('01JZZZZZZZZZZZZZZZZZZZZZZZ', active => false)$$);
-- 409: names are unique.
SELECT * FROM stubctl.try($$SELECT routerkeys.create_key('errors-victim')$$);
-- 400 from the API: an expiry in the past.
SELECT * FROM stubctl.try($$SELECT routerkeys.create_key('past', expires_at => now() - interval '1 day')$$);

-- Every error body form of the API gives its message.
SELECT stubctl.fault('{"kind":"status","status":400,"error_form":"object","message":"form one","method":"PATCH"}');
SELECT stubctl.fault('{"kind":"status","status":400,"error_form":"code_error","message":"form two","method":"PATCH"}');
SELECT stubctl.fault('{"kind":"status","status":400,"error_form":"plain","message":"form three","method":"PATCH"}');
SELECT stubctl.fault('{"kind":"status","status":400,"error_form":"code_message","message":"form four","method":"PATCH"}');
SELECT stubctl.fault('{"kind":"status","status":400,"error_form":"empty","method":"PATCH"}');
SELECT stubctl.fault('{"kind":"status","status":418,"error_form":"html","method":"PATCH"}');
\set patch 'SELECT routerkeys.update_key((SELECT id FROM k), name => ''x'')'
SELECT * FROM stubctl.try(:'patch');
SELECT * FROM stubctl.try(:'patch');
SELECT * FROM stubctl.try(:'patch');
SELECT * FROM stubctl.try(:'patch');
SELECT * FROM stubctl.try(:'patch');
SELECT * FROM stubctl.try(:'patch');

\x off
-- 429 then success: Retry-After is honoured and the call succeeds on the second attempt.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"1","method":"GET","count":1}');
SELECT clock_timestamp() AS t0 \gset
SELECT name FROM routerkeys.get_key((SELECT id FROM k));
SELECT clock_timestamp() - :'t0' >= interval '1 second' AS waited_retry_after;
SELECT status FROM stubctl.log();

-- 503 twice, then success.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":503,"error_form":"html","method":"GET","count":2}');
SELECT count(*) FROM routerkeys.keys;
SELECT status FROM stubctl.log();

\x on
-- 429 until the retries run out (max_retries 3: four attempts), with an HTTP-date Retry-After.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"0","method":"GET","count":-1}');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
SELECT stubctl.clear_faults();
SELECT count(*) AS attempts FROM stubctl.log();
-- A Retry-After longer than retry_max_wait_ms is not waited for.
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after_date":120,"method":"GET","count":-1}');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
SELECT stubctl.clear_faults();

-- A 429 on a create is retried: the service did not take the request. (Creates whose
-- answer may be lost are the subject of retries.sql.)
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"0","method":"POST","count":1}');
SELECT * FROM stubctl.try($$SELECT routerkeys.create_key('after-429')$$);
SELECT count(*) FROM routerkeys.list_keys(search => 'after-429');

-- Malformed success answers: not JSON, cut short, wrong types, invalid UTF-8.
SELECT stubctl.fault('{"kind":"html","method":"GET","count":1}');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
SELECT stubctl.fault('{"kind":"truncate","method":"GET","count":1}');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
SELECT stubctl.fault('{"kind":"wrong_types","method":"GET","count":1}');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
SELECT stubctl.fault('{"kind":"invalid_utf8","method":"GET","count":1}');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');

-- A body larger than max_response_bytes is cut off while it arrives.
ALTER SERVER stub OPTIONS (ADD max_response_bytes '4096');
SELECT stubctl.fault('{"kind":"oversized","bytes":200000,"method":"GET","count":1}');
SELECT * FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
ALTER SERVER stub OPTIONS (DROP max_response_bytes);

-- A connection reset mid-body: a GET is retried and succeeds...
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"reset","method":"GET","count":1}');
SELECT count(*) FROM routerkeys.keys;
SELECT count(*) AS requests FROM stubctl.log();
-- ... and when it keeps happening, the error says the connection was lost.
ALTER SERVER stub OPTIONS (ADD max_retries '1');
SELECT stubctl.fault('{"kind":"reset","method":"GET","count":-1}');
SELECT code, message FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
SELECT stubctl.clear_faults();

-- Timeouts: a server slower than timeout_ms.
ALTER SERVER stub OPTIONS (ADD timeout_ms '300');
SELECT stubctl.fault('{"kind":"delay_headers","ms":3000,"method":"GET","count":-1}');
SELECT code, message, hint FROM stubctl.try('SELECT count(*) FROM routerkeys.keys');
SELECT stubctl.clear_faults();
ALTER SERVER stub OPTIONS (DROP timeout_ms, DROP max_retries);

-- Nobody listening: could not connect.
CREATE SERVER closed FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'http://127.0.0.1:1', max_retries '0');
CREATE USER MAPPING FOR CURRENT_USER SERVER closed OPTIONS (provisioning_key 'rk-test-provisioning-valid');
SELECT code, message, hint FROM stubctl.try($$SELECT count(*) FROM routerkeys.list_keys(server => 'closed')$$);
DROP SERVER closed CASCADE;
\x off

-- Cancel: statement_timeout stops a slow transfer at once, with PostgreSQL's own error.
SELECT stubctl.fault('{"kind":"delay_headers","ms":5000,"method":"GET","count":1}');
SET statement_timeout = '300ms';
SELECT count(*) FROM routerkeys.keys;
RESET statement_timeout;
-- ... also in the middle of a body, and while waiting to retry; each within a second.
CREATE FUNCTION pg_temp.cancel_latency() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM count(*) FROM routerkeys.keys;
    RETURN false;
EXCEPTION WHEN query_canceled THEN
    RETURN clock_timestamp() - t0 < interval '1 second';
END
$$;
SELECT stubctl.seed(50);
SELECT stubctl.fault('{"kind":"delay_headers","ms":5000,"method":"GET","count":1}');
SET statement_timeout = '300ms';
SELECT pg_temp.cancel_latency() AS slow_header;
RESET statement_timeout;
SELECT stubctl.fault('{"kind":"delay_body","ms":5000,"method":"GET","count":1}');
SET statement_timeout = '300ms';
SELECT pg_temp.cancel_latency() AS slow_body;
RESET statement_timeout;
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"10","method":"GET","count":1}');
SET statement_timeout = '300ms';
SELECT pg_temp.cancel_latency() AS retry_wait;
RESET statement_timeout;
SELECT stubctl.clear_faults();

-- After all that, the session works and nothing was created twice.
SELECT count(*) FROM routerkeys.keys;
SELECT stubctl.live_keys();
