-- fdw: the foreign table. Scans stream page by page and push id, id = ANY, status,
-- active, name and project_id conditions to the API (every condition is rechecked
-- locally); joins on id read one key per outer row; INSERT, UPDATE and DELETE call the
-- API, with RETURNING; batch inserts run concurrently; EXPLAIN shows the requests.
SELECT stubctl.reset();
SET timezone = 'UTC';

-- IMPORT FOREIGN SCHEMA creates router_keys with every column.
CREATE SCHEMA remote;
IMPORT FOREIGN SCHEMA router FROM SERVER stub INTO remote;
\d remote.router_keys
IMPORT FOREIGN SCHEMA router EXCEPT (router_keys) FROM SERVER stub INTO public;
SELECT to_regclass('public.router_keys') IS NULL AS not_imported;

-- Or by hand: any subset of the columns, in any order, checked by name and type.
CREATE FOREIGN TABLE keys_short (status text, name text, id text) SERVER stub;
CREATE FOREIGN TABLE keys_bad_name (id text, colour text) SERVER stub;
SELECT * FROM keys_bad_name;
CREATE FOREIGN TABLE keys_bad_type (id text, active text) SERVER stub;
SELECT * FROM keys_bad_type;
DROP FOREIGN TABLE keys_bad_name, keys_bad_type;
ALTER FOREIGN TABLE keys_short OPTIONS (ADD colour 'blue');
SET search_path = remote, public;

-- INSERT creates keys; RETURNING gives the id, the timestamps and the one-time token.
INSERT INTO router_keys (name, project_id) VALUES ('fdw-a', 'proj-1'), ('fdw-b', NULL)
RETURNING name, project_id, active, length(id) AS id_length, token LIKE 'sk-orq-%' AS has_token,
          created_at IS NOT NULL AS has_created_at;
INSERT INTO router_keys (name, active, permission_mode) VALUES ('fdw-c', false, 'read_only')
RETURNING name, active, status, permission_mode;
-- The token is NULL on every other path.
SELECT name, token FROM router_keys ORDER BY name;
-- Columns the service sets cannot be inserted.
INSERT INTO router_keys (name, status) VALUES ('fdw-x', 'revoked');
INSERT INTO router_keys (project_id) VALUES ('proj-1');
SELECT name, status FROM keys_short ORDER BY name;

-- Pushdown, shown by EXPLAIN and by the requests the stub saw.
SELECT id AS a_id FROM router_keys WHERE name = 'fdw-a' \gset
SELECT id AS b_id FROM router_keys WHERE name = 'fdw-b' \gset
SELECT stubctl.clear_log();
EXPLAIN (COSTS OFF) SELECT name FROM router_keys WHERE id = 'some-id';
SELECT name FROM router_keys WHERE id = :'a_id';
SELECT name FROM router_keys WHERE id = 'missing-key';
EXPLAIN (COSTS OFF) SELECT name FROM router_keys WHERE id = ANY(ARRAY['x', 'y']);
SELECT name FROM router_keys WHERE id = ANY(ARRAY[:'a_id', :'b_id', :'a_id', 'missing-key']) ORDER BY name;
EXPLAIN (COSTS OFF) SELECT name FROM router_keys WHERE status = 'disabled';
SELECT name FROM router_keys WHERE status = 'disabled';
EXPLAIN (COSTS OFF) SELECT name FROM router_keys WHERE active;
SELECT name FROM router_keys WHERE active ORDER BY name;
EXPLAIN (COSTS OFF) SELECT name FROM router_keys WHERE name ILIKE '%DW-B%';
SELECT name FROM router_keys WHERE name ILIKE '%DW-B%';
-- name = 'fdw-a' is sent as a search, and rechecked exactly here.
EXPLAIN (COSTS OFF) SELECT name FROM router_keys WHERE name = 'fdw-a';
SELECT name FROM router_keys WHERE name = 'fdw-a';
EXPLAIN (COSTS OFF) SELECT name FROM router_keys WHERE project_id = 'proj-1';
SELECT name FROM router_keys WHERE project_id = 'proj-1';
-- A status the API does not know is not sent, only checked here.
SELECT count(*) FROM router_keys WHERE status = 'quarantined';
SELECT method, regexp_replace(path, '[0-9A-Z]{26}', '<id>') AS path, query FROM stubctl.log() ORDER BY 1, 2, 3;

-- A condition on a parameter is pushed too (a PL/pgSQL variable, a prepared statement).
PREPARE by_id(text) AS SELECT name FROM router_keys WHERE id = $1;
EXECUTE by_id(:'b_id');
DEALLOCATE by_id;

-- Streaming: 1 000 keys in pages of 100 take eleven requests (ten full pages, then an
-- empty one that ends the listing); a LIMIT 5 fetches one page of five.
SELECT stubctl.seed(997);
SELECT stubctl.clear_log();
SELECT count(*) FROM router_keys;
SELECT count(*) AS requests FROM stubctl.log();
SELECT stubctl.clear_log();
EXPLAIN (COSTS OFF) SELECT * FROM router_keys LIMIT 5;
SELECT name FROM router_keys LIMIT 5;
SELECT query FROM stubctl.log();
-- EXPLAIN ANALYZE counts the remote work (the byte count varies with the timestamps the
-- stub prints, so it is shown as N when it is not zero).
-- (Row counts are shown as whole numbers, as PostgreSQL before 18 prints them.)
CREATE FUNCTION pg_temp.explain_analyze(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query LOOP
        line := regexp_replace(line, 'Bytes Received: [1-9][0-9]*', 'Bytes Received: N');
        RETURN NEXT regexp_replace(line, 'rows=([0-9]+)\.00 ', 'rows=\1 ', 'g');
    END LOOP;
END
$$;
-- EXPLAIN with the join clause written one way: PostgreSQL 16 and later print
-- "id = t.key_id", 15 prints "t.key_id = id".
CREATE FUNCTION pg_temp.explain(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        RETURN NEXT replace(line, 'Filter: (id = t.key_id)', 'Filter: (t.key_id = id)');
    END LOOP;
END
$$;
SELECT * FROM pg_temp.explain_analyze('SELECT count(*) FROM router_keys WHERE active');

-- Joins: a small tenants table reads one key per tenant...
CREATE TABLE tenants (id int PRIMARY KEY, key_id text);
INSERT INTO tenants VALUES (1, :'a_id'), (2, :'b_id'), (3, 'missing-key');
ANALYZE tenants;
SELECT * FROM pg_temp.explain('SELECT t.id, k.name FROM tenants t JOIN router_keys k ON k.id = t.key_id');
SELECT stubctl.clear_log();
SELECT t.id, k.name FROM tenants t JOIN router_keys k ON k.id = t.key_id ORDER BY t.id;
SELECT count(*) AS requests, bool_and(path LIKE '/v2/api-keys/%') AS all_gets FROM stubctl.log();
-- ... a large one lists the account once and joins locally.
INSERT INTO tenants SELECT g, 'no-such-key-' || g FROM generate_series(4, 5000) g;
ANALYZE tenants;
EXPLAIN (COSTS OFF) SELECT count(*) FROM tenants t JOIN router_keys k ON k.id = t.key_id;
SELECT count(*) FROM tenants t JOIN router_keys k ON k.id = t.key_id;
DELETE FROM tenants WHERE id > 3;

-- Where GETs stop paying depends on how far the service is: 300 tenants read a key each
-- when a request costs nothing, and list the account when each takes 50 ms. Without the
-- option, the planner uses what this session's requests to the server have taken.
INSERT INTO tenants SELECT g, 'no-such-key-' || g FROM generate_series(4, 300) g;
ANALYZE tenants;
ALTER SERVER stub OPTIONS (ADD request_latency_ms '0');
SELECT * FROM pg_temp.explain('SELECT count(*) FROM tenants t JOIN router_keys k ON k.id = t.key_id');
ALTER SERVER stub OPTIONS (SET request_latency_ms '50');
SELECT * FROM pg_temp.explain('SELECT count(*) FROM tenants t JOIN router_keys k ON k.id = t.key_id');
ALTER SERVER stub OPTIONS (DROP request_latency_ms);
DELETE FROM tenants WHERE id > 3;

-- INSERT … SELECT from a local table, RETURNING into another local table.
CREATE TABLE new_tenants (name text PRIMARY KEY);
INSERT INTO new_tenants VALUES ('initech'), ('umbrella');
CREATE TABLE issued (tenant text, key_id text, token text);
WITH made AS (
    INSERT INTO router_keys (name) SELECT 'tenant-' || name FROM new_tenants
    RETURNING id, name, token
)
INSERT INTO issued SELECT substr(name, 8), id, token FROM made;
SELECT tenant, length(key_id) AS id_length, token LIKE 'sk-orq-' || key_id || '-%' AS token_matches
FROM issued ORDER BY tenant;

-- UPDATE: by id, and by a condition the API cannot evaluate; only set columns are sent.
SELECT stubctl.clear_log();
UPDATE router_keys SET active = false WHERE id = :'a_id' RETURNING name, active, status;
UPDATE router_keys SET name = name || '-renamed', expires_at = '2031-01-01 00:00:00+00'
WHERE name LIKE 'tenant-%' RETURNING name, expires_at;
UPDATE router_keys SET expires_at = NULL WHERE name = 'tenant-initech-renamed' RETURNING name, expires_at;
SELECT method, body::jsonb FROM stubctl.log() WHERE method = 'PATCH' ORDER BY seq;
UPDATE router_keys SET status = 'active';
UPDATE router_keys SET name = NULL WHERE id = :'a_id';

-- DELETE: by id, and by a local condition; RETURNING * works.
DELETE FROM router_keys WHERE id = :'b_id' RETURNING name;
WITH gone AS (DELETE FROM router_keys WHERE name LIKE 'seed-0009%' RETURNING name)
SELECT count(*), min(name), max(name) FROM gone;
SELECT stubctl.live_keys();

-- Batch INSERT: the creates of a batch run concurrently. With 200 ms of latency per
-- request, 16 rows in batches of 8 take about two round trips, not sixteen.
ALTER FOREIGN TABLE router_keys OPTIONS (ADD batch_size '8');
EXPLAIN (COSTS OFF) INSERT INTO router_keys (name) SELECT 'batch-' || g FROM generate_series(1, 16) g;
SELECT stubctl.call('POST', '/__admin/config', '{"latency_ms": 200}');
SELECT clock_timestamp() AS t0 \gset
INSERT INTO router_keys (name) SELECT 'batch-' || g FROM generate_series(1, 16) g;
SELECT clock_timestamp() - :'t0' < interval '1.6 seconds' AS concurrent;
SELECT stubctl.call('POST', '/__admin/config', '{"latency_ms": 0}');
SELECT count(*) FROM router_keys WHERE name LIKE 'batch-%';

-- An error in the middle of a scan, or of a batch: the statement fails and the session
-- goes on. The other creates of a failed batch did happen, and the abort deletes them.
SELECT stubctl.fault('{"kind":"status","status":500,"method":"GET","query_contains":"starting_after=","count":-1}');
SELECT code, message, detail FROM stubctl.try('SELECT count(*) FROM router_keys');
SELECT stubctl.clear_faults();
SELECT stubctl.fault('{"kind":"status","status":409,"error_form":"plain","message":"duplicate","method":"POST","skip":3,"count":1}');
INSERT INTO router_keys (name) SELECT 'batch2-' || g FROM generate_series(1, 8) g;
SELECT count(*) FROM router_keys WHERE name LIKE 'batch2-%';
SELECT count(*) FROM router_keys;

-- A batch INSERT keeps batch_size creates in flight across batches: a create is sent as
-- soon as one ends. With batches of 4 and the create that arrives first answering 800 ms
-- late, the other seven are sent and answered meanwhile (the stub logs a request as it
-- answers), where waiting for each batch would have answered the late one fourth at most.
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"delay_headers","ms":800,"method":"POST","count":1}');
ALTER FOREIGN TABLE router_keys OPTIONS (SET batch_size '4');
INSERT INTO router_keys (name) SELECT 'pipe-' || g FROM generate_series(1, 8) g;
SELECT array_position(array_agg(e.fault IS NOT NULL ORDER BY e.seq), true) AS late_one_answered,
       count(*) AS creates
FROM jsonb_to_recordset(stubctl.call('GET', '/__admin/log')->'entries')
     AS e(seq int, method text, fault text)
WHERE e.method = 'POST';
SELECT count(*) FROM router_keys WHERE name LIKE 'pipe-%';

-- A create that fails in the middle: the statement waits for the others in flight, then
-- fails, and the abort deletes every key it made.
SELECT stubctl.fault('{"kind":"status","status":400,"message":"bad name","method":"POST","skip":5,"count":1}');
SELECT code, message FROM stubctl.try($$INSERT INTO router_keys (name) SELECT 'pipe2-' || g FROM generate_series(1, 12) g$$);
SELECT count(*) FROM routerkeys.list_keys(search => 'pipe2-');

-- A statement cancelled with creates in flight: the keys it knows of are deleted by the
-- abort, and those it was still waiting for are recorded for the worker's follow-up
-- check, which deletes them once they can no longer appear (settle_delay).
SELECT stubctl.call('POST', '/__admin/config', '{"latency_ms": 300}');
SET statement_timeout = '500ms';
INSERT INTO router_keys (name) SELECT 'pipe3-' || g FROM generate_series(1, 12) g;
RESET statement_timeout;
SELECT stubctl.call('POST', '/__admin/config', '{"latency_ms": 0}');
SELECT stubctl.wait_until($$(SELECT count(*) FROM routerkeys.list_keys(search => 'pipe3-')) = 0$$);
SELECT count(*) > 0 AS checked FROM routerkeys.outbox
WHERE operation = 'check' AND key_name LIKE 'pipe3-%';

-- A role without USAGE on the server, then without a user mapping, cannot scan.
CREATE ROLE rk_fdw_user;
GRANT USAGE ON SCHEMA remote TO rk_fdw_user;
GRANT SELECT ON router_keys TO rk_fdw_user;
SET ROLE rk_fdw_user;
SELECT count(*) FROM router_keys;
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER stub TO rk_fdw_user;
SET ROLE rk_fdw_user;
SELECT count(*) FROM router_keys;
RESET ROLE;
REVOKE USAGE ON FOREIGN SERVER stub FROM rk_fdw_user;
REVOKE ALL ON router_keys FROM rk_fdw_user;
REVOKE ALL ON SCHEMA remote FROM rk_fdw_user;
DROP ROLE rk_fdw_user;

RESET search_path;
DROP SCHEMA remote CASCADE;
DROP FOREIGN TABLE keys_short;
