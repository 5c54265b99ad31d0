-- faults: the fault matrix. Every fault kind the stub can inject, on every operation: the
-- listing at page 1 and at page N, get, create, update and delete, and the foreign table's
-- scan, INSERT, UPDATE and DELETE; each on a warm connection (kept alive from the requests
-- before it, where libcurl would re-send a request by itself) and on a fresh one. Each
-- cell of the matrix is the SQLSTATE the operation ended with (00000: it succeeded); a
-- "!" marks a case that broke an invariant. After every case the backend is the same one,
-- the session runs the next statement (SELECT 1 and a listing, which agrees with the
-- stub), and the stub holds exactly the keys it must:
--   read or update  nothing created, nothing lost;
--   create          one key with the name when the call succeeded (with its token), none
--                   when it failed: no duplicate, and no orphan of an ambiguous create;
--                   except in the window the README documents: when the last attempt
--                   timed out, the service may still carry it out after the call gave
--                   up (it timed out before any answer began, so it is not sent again,
--                   and the name is recorded for a follow-up check). Such a case is
--                   marked "~" and listed below;
--   delete          gone when the call said it deleted it, there when it said it did not
--                   exist; after an error, there unless the request reached the service
--                   (the fault "performs" it, then breaks the answer: the router has no
--                   transactions, so such a delete is done).
-- Faults are persistent (count -1) so that the retry fails too; max_retries is 1.
-- Calls act at once here, so that each request is seen as it is sent and each failure
-- where it happens (transactions.sql shows the default, where updates and deletes wait
-- for COMMIT).
SET routerkeys.transactional = off;
SELECT stubctl.reset();
SELECT stubctl.seed(12, 'fault-seed-');
SELECT pg_backend_pid() AS backend_at_start \gset
CREATE SCHEMA faults_remote;
IMPORT FOREIGN SCHEMA router FROM SERVER stub INTO faults_remote;
-- Pages of five (13 keys: a page 2 to fail), one retry, a 300 ms attempt, 64 kB answers.
-- (estimated_keys only changes to force a fresh connection.)
ALTER SERVER stub OPTIONS (ADD page_size '5', ADD max_retries '1', ADD timeout_ms '300',
                           ADD max_response_bytes '65536', ADD estimated_keys '10000');

-- The operations: the method of the request the fault is armed on (and the query text it
-- must contain), and the statement; %L is the id of a key made for the case ("case-N"),
-- or, for a create, the name "case-N".
CREATE TEMP TABLE ops (ord int, op text, method text, query_contains text,
                       effect text, arg text, sql text);
INSERT INTO ops VALUES
 (1, 'list_1',   'GET',    NULL,              'none',   NULL,
     'SELECT count(*) FROM routerkeys.list_keys()'),
 (2, 'list_n',   'GET',    'starting_after=', 'none',   NULL,
     'SELECT count(*) FROM routerkeys.list_keys()'),
 (3, 'get',      'GET',    NULL,              'none',   'id',
     'SELECT count(*) FROM routerkeys.get_key(%L)'),
 (4, 'create',   'POST',   NULL,              'create', 'name',
     'SELECT token IS NOT NULL FROM routerkeys.create_key(%L)'),
 (5, 'update',   'PATCH',  NULL,              'none',   'id',
     'SELECT NOT active FROM routerkeys.update_key(%L, active => false)'),
 (6, 'delete',   'DELETE', NULL,              'delete', 'id',
     'SELECT routerkeys.delete_key(%L)'),
 (7, 'fdw_scan', 'GET',    NULL,              'none',   NULL,
     'SELECT count(*) FROM faults_remote.router_keys'),
 (8, 'fdw_ins',  'POST',   NULL,              'create', 'name',
     'INSERT INTO faults_remote.router_keys (name) VALUES (%L)'),
 (9, 'fdw_upd',  'PATCH',  NULL,              'none',   'id',
     'UPDATE faults_remote.router_keys SET active = false WHERE id = %L'),
 (10, 'fdw_del', 'DELETE', NULL,              'delete', 'id',
     'DELETE FROM faults_remote.router_keys WHERE id = %L');
SELECT op, method, query_contains, sql FROM ops ORDER BY ord;

-- The faults, without method (added per operation). "performs": the stub carries the
-- request out before it breaks the answer. "settle_ms": how long the stub may still be
-- working after the call gave up (a delay before the headers performs the request late),
-- waited for before the keys of a create or a delete are counted.
CREATE TEMP TABLE faults (ord int, fault text, spec jsonb, performs boolean, settle_ms int);
INSERT INTO faults VALUES
 (1,  'status 400',            '{"kind":"status","status":400}', false, 0),
 (2,  'status 401',            '{"kind":"status","status":401}', false, 0),
 (3,  'status 403',            '{"kind":"status","status":403}', false, 0),
 (4,  'status 404',            '{"kind":"status","status":404}', false, 0),
 (5,  'status 409',            '{"kind":"status","status":409}', false, 0),
 (6,  'status 429',            '{"kind":"status","status":429,"retry_after":"0"}', false, 0),
 (7,  'status 500',            '{"kind":"status","status":500}', false, 0),
 (8,  'status 502',            '{"kind":"status","status":502}', false, 0),
 (9,  'status 503',            '{"kind":"status","status":503}', false, 0),
 (10, 'status 504',            '{"kind":"status","status":504}', false, 0),
 (11, '422 code_error',        '{"kind":"status","status":422,"error_form":"code_error"}', false, 0),
 (12, '401 plain',             '{"kind":"status","status":401,"error_form":"plain"}', false, 0),
 (13, '409 code_message',      '{"kind":"status","status":409,"error_form":"code_message"}', false, 0),
 (14, '500 html',              '{"kind":"status","status":500,"error_form":"html"}', false, 0),
 (15, '503 empty',             '{"kind":"status","status":503,"error_form":"empty"}', false, 0),
 (16, '504 apply',             '{"kind":"status","status":504,"apply":true}', true, 0),
 (17, 'delay_headers',         '{"kind":"delay_headers","ms":600}', true, 600),
 (18, 'delay_body',            '{"kind":"delay_body","ms":600}', true, 0),
 (19, 'reset',                 '{"kind":"reset"}', true, 0),
 (20, 'truncate',              '{"kind":"truncate"}', true, 0),
 (21, 'html',                  '{"kind":"html"}', false, 0),
 (22, 'oversized',             '{"kind":"oversized","bytes":100000}', true, 0),
 (23, 'invalid_utf8',          '{"kind":"invalid_utf8"}', true, 0),
 (24, 'wrong_types',           '{"kind":"wrong_types"}', true, 0),
 (25, 'raw 200 text/plain',    '{"kind":"raw","status":200,"content_type":"text/plain","body":"ok"}', false, 0),
 (26, 'drop',                  '{"kind":"drop"}', true, 0);
SELECT fault, spec, performs FROM faults ORDER BY ord;

CREATE TEMP TABLE results (
    n int PRIMARY KEY, fault text, op text, conn text, backend int, name text,
    code text, said text, before int,
    after int, listed int, named int, problem text, invariants_ok boolean,
    late_create boolean DEFAULT false);

-- One case: make its key, count the keys (by a listing: the last case's checks showed it
-- agrees with the stub), for a fresh connection change the server (which drops the
-- connections kept alive), arm the fault, run the operation (caught as stubctl.try does,
-- keeping the statement's result), disarm.
CREATE FUNCTION pg_temp.run_case(n int, f faults, o ops, conn text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := 'case-' || n;
    id text;
    spec jsonb;
    outcome text := '00000';
    result text;
    nrows bigint;
BEGIN
    IF o.effect <> 'create' THEN
        SELECT k.id INTO STRICT id FROM routerkeys.create_key(name) k;
    END IF;
    INSERT INTO results (n, fault, op, conn, backend, name, before)
    VALUES (n, f.fault, o.op, conn, pg_backend_pid(), name,
            (SELECT count(*) FROM routerkeys.list_keys()));
    IF conn = 'fresh' THEN
        EXECUTE format('ALTER SERVER stub OPTIONS (SET estimated_keys %L)', 10000 + n);
    END IF;
    spec := f.spec || jsonb_build_object('method', o.method, 'count', -1);
    IF o.query_contains IS NOT NULL THEN
        spec := spec || jsonb_build_object('query_contains', o.query_contains);
    END IF;
    PERFORM stubctl.fault(spec);
    BEGIN
        IF o.sql LIKE 'SELECT %' THEN
            EXECUTE format(o.sql, CASE o.arg WHEN 'id' THEN id ELSE name END) INTO result;
        ELSE
            EXECUTE format(o.sql, CASE o.arg WHEN 'id' THEN id ELSE name END);
            GET DIAGNOSTICS nrows = ROW_COUNT;
            result := nrows || ' row' || CASE WHEN nrows = 1 THEN '' ELSE 's' END;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS outcome = RETURNED_SQLSTATE;
    END;
    PERFORM stubctl.clear_faults();
    UPDATE results r SET code = outcome, said = result WHERE r.n = run_case.n;
END
$$;

-- Its checks, in the next transaction: the same backend, the next statements run, the keys
-- are as they must be; then the case's keys are removed.
CREATE FUNCTION pg_temp.check_case(n int, f faults, o ops) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r results;
    one int;
    broken text;
    want_gone boolean;
BEGIN
    SELECT * INTO STRICT r FROM results WHERE results.n = check_case.n;
    IF o.effect <> 'none' THEN
        PERFORM pg_sleep(f.settle_ms / 1000.0);
    END IF;
    BEGIN
        SELECT 1 INTO STRICT one;
        SELECT count(*) INTO r.listed FROM routerkeys.list_keys();
        SELECT count(*) INTO r.named FROM routerkeys.list_keys(search => r.name) k
        WHERE k.name = r.name;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS broken = RETURNED_SQLSTATE;
        broken := 'next statement failed: ' || broken;
    END;
    r.after := stubctl.live_keys();
    IF broken IS NULL AND r.backend <> pg_backend_pid() THEN
        broken := 'another backend';
    ELSIF broken IS NULL AND r.listed <> r.after THEN
        broken := 'listing disagrees with the stub';
    ELSIF broken IS NULL AND o.effect = 'none' THEN
        IF r.named <> 1 OR r.after <> r.before THEN
            broken := 'a key was created or lost';
        END IF;
    ELSIF broken IS NULL AND o.effect = 'create' THEN
        IF r.code = '00000' AND r.said NOT IN ('true', '1 row') THEN
            broken := 'created without its token';
        ELSIF r.code <> '00000' AND r.named >= 1 AND f.settle_ms > 0 THEN
            r.late_create := true;
        ELSIF r.named <> (r.code = '00000')::int THEN
            broken := CASE WHEN r.code = '00000' THEN 'created ' || r.named || ' keys'
                            ELSE 'failed create left a key behind' END;
        ELSIF r.after <> r.before + r.named THEN
            broken := 'another key was created or lost';
        END IF;
    ELSIF broken IS NULL AND o.effect = 'delete' THEN
        want_gone := CASE WHEN r.code = '00000' THEN r.said IN ('true', '1 row')
                          ELSE f.performs END;
        IF (r.named = 0) <> want_gone THEN
            broken := CASE WHEN r.named = 0 THEN 'key gone, but the call said '
                            ELSE 'key still there, but the call said ' END
                       || coalesce(r.said, r.code);
        ELSIF r.after <> r.before - (r.named = 0)::int THEN
            broken := 'another key was created or lost';
        END IF;
    END IF;
    UPDATE results SET after = r.after, listed = r.listed, named = r.named,
                       problem = broken, invariants_ok = broken IS NULL,
                       late_create = r.late_create
    WHERE results.n = check_case.n;
    PERFORM routerkeys.delete_key(k.id) FROM routerkeys.list_keys(search => r.name) k
    WHERE k.name = r.name;
END
$$;

-- Every fault on every operation, each case and each check in its own transaction.
CREATE PROCEDURE pg_temp.run_matrix()
LANGUAGE plpgsql AS $$
DECLARE
    f faults;
    o ops;
    conn text;
    n int := 0;
BEGIN
    FOREACH conn IN ARRAY ARRAY['warm', 'fresh'] LOOP
        FOR f IN SELECT * FROM faults ORDER BY ord LOOP
            FOR o IN SELECT * FROM ops ORDER BY ord LOOP
                n := n + 1;
                PERFORM pg_temp.run_case(n, f, o, conn);
                COMMIT;
                PERFORM pg_temp.check_case(n, f, o);
                COMMIT;
            END LOOP;
        END LOOP;
    END LOOP;
END
$$;
CALL pg_temp.run_matrix();

-- The matrix: the SQLSTATE of every case, "!" where an invariant broke, "~" for a
-- create carried out by the service after the call gave up on it.
SELECT r.fault, r.conn,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'list_1') AS list_1,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'list_n') AS list_n,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'get') AS get,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'create') AS create,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'update') AS update,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'delete') AS delete,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'fdw_scan') AS fdw_scan,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'fdw_ins') AS fdw_ins,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'fdw_upd') AS fdw_upd,
       max(code || CASE WHEN NOT invariants_ok THEN '!' WHEN late_create THEN '~' ELSE '' END) FILTER (WHERE op = 'fdw_del') AS fdw_del
FROM results r JOIN faults f USING (fault)
GROUP BY r.fault, f.ord, r.conn ORDER BY f.ord, r.conn DESC;

SELECT count(*) AS cases, count(DISTINCT fault) AS faults, count(DISTINCT op) AS operations,
       count(DISTINCT conn) AS connections, bool_and(invariants_ok) AS invariants_ok
FROM results;
-- The cases that broke an invariant (none), and the late creates of the documented window.
SELECT r.fault, r.op, r.conn, code, said, before, after, named, problem
FROM results r JOIN faults f USING (fault) JOIN ops o USING (op)
WHERE NOT invariants_ok ORDER BY f.ord, o.ord, r.conn DESC;
SELECT r.fault, r.op, r.conn, code AS late_create
FROM results r JOIN faults f USING (fault) JOIN ops o USING (op)
WHERE late_create ORDER BY f.ord, o.ord, r.conn DESC;

-- The session and the backend are those of the start; the stub holds the seeds only.
SELECT 1 AS next_statement;
SELECT pg_backend_pid() = :backend_at_start AS same_backend;
SELECT count(*) AS keys, stubctl.live_keys() AS stub_keys FROM routerkeys.list_keys();

ALTER SERVER stub OPTIONS (DROP page_size, DROP max_retries, DROP timeout_ms,
                           DROP max_response_bytes, DROP estimated_keys);
DROP SCHEMA faults_remote CASCADE;
DROP PROCEDURE pg_temp.run_matrix();
DROP FUNCTION pg_temp.run_case(int, faults, ops, text), pg_temp.check_case(int, faults, ops);
DROP TABLE results, faults, ops;
SELECT stubctl.reset();
