-- transactions: the router follows COMMIT, ROLLBACK and savepoints (routerkeys.transactional,
-- on by default). A create reaches the router at once and is deleted when its
-- (sub)transaction aborts; updates and deletes are remembered, merged per key and sent at
-- COMMIT; inside the transaction every call shows the keys as they will be. The stub's log
-- shows which requests went out, and when.
SELECT stubctl.reset();
CREATE FUNCTION pg_temp.requests()
RETURNS TABLE (method text, path text, body text, status int)
LANGUAGE sql AS $$
    SELECT method, regexp_replace(path, '[0-9A-Z]{26}', '<id>'), body, status FROM stubctl.log()
$$;
CREATE FUNCTION pg_temp.named(n text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM routerkeys.list_keys(search => n) k WHERE k.name = n $$;
SELECT id AS kept_id FROM routerkeys.create_key('tx-kept') \gset
SHOW routerkeys.transactional;

-- ROLLBACK deletes the key the transaction created.
SELECT stubctl.clear_log();
BEGIN;
SELECT name, token IS NOT NULL AS has_token FROM routerkeys.create_key('tx-rolled-back');
SELECT pg_temp.named('tx-rolled-back') AS exists_inside;
ROLLBACK;
SELECT method, path, status FROM pg_temp.requests();
SELECT pg_temp.named('tx-rolled-back') AS exists_after;

-- An error in a later statement aborts the transaction: the same.
BEGIN;
SELECT name FROM routerkeys.create_key('tx-failed-later');
SELECT 1 / 0;
COMMIT;
SELECT pg_temp.named('tx-failed-later') AS exists_after;

-- A delete and an update that roll back send nothing.
SELECT stubctl.clear_log();
BEGIN;
SELECT routerkeys.delete_key(:'kept_id') AS deleted_inside;
SELECT count(*) AS visible_inside FROM routerkeys.get_key(:'kept_id');
ROLLBACK;
BEGIN;
SELECT name, active FROM routerkeys.update_key(:'kept_id', name => 'tx-renamed', active => false);
ROLLBACK;
SELECT method, path, status FROM pg_temp.requests();
SELECT name, active FROM routerkeys.get_key(:'kept_id');

-- A rename then a disable is one PATCH at COMMIT; inside, the key is shown as it will be.
SELECT stubctl.clear_log();
BEGIN;
SELECT name, active FROM routerkeys.update_key(:'kept_id', name => 'tx-renamed');
SELECT name, active FROM routerkeys.update_key(:'kept_id', active => false);
SELECT name, active, status FROM routerkeys.get_key(:'kept_id');
SELECT count(*) AS patches_before_commit FROM stubctl.log() WHERE method = 'PATCH';
COMMIT;
SELECT method, path, body::jsonb, status FROM pg_temp.requests() WHERE method <> 'GET';
SELECT name, active FROM routerkeys.get_key(:'kept_id');

-- A create then a delete in one transaction: no net change.
SELECT stubctl.clear_log();
BEGIN;
SELECT id AS short_id FROM routerkeys.create_key('tx-short-lived') \gset
SELECT routerkeys.delete_key(:'short_id');
SELECT routerkeys.delete_key(:'short_id') AS deleted_twice;
SELECT count(*) AS listed_inside FROM routerkeys.list_keys(search => 'tx-short-lived');
COMMIT;
SELECT method, path, status FROM pg_temp.requests() WHERE method <> 'GET';
SELECT pg_temp.named('tx-short-lived') AS exists_after;

-- Savepoints three deep: ROLLBACK TO undoes the creates of the levels it leaves, and a
-- released savepoint's effects belong to its parent.
BEGIN;
SELECT name FROM routerkeys.create_key('tx-level-1');
SAVEPOINT s2;
SELECT name FROM routerkeys.create_key('tx-level-2');
SAVEPOINT s3;
SELECT name FROM routerkeys.create_key('tx-level-3');
SELECT routerkeys.delete_key(:'kept_id');
RELEASE SAVEPOINT s3;
SAVEPOINT s4;
SELECT name FROM routerkeys.create_key('tx-level-4');
ROLLBACK TO SAVEPOINT s4;
SELECT name FROM routerkeys.list_keys() WHERE name LIKE 'tx-level-%' ORDER BY name;
ROLLBACK TO SAVEPOINT s2;
SELECT name FROM routerkeys.list_keys() WHERE name LIKE 'tx-level-%' ORDER BY name;
SELECT count(*) AS kept_visible FROM routerkeys.get_key(:'kept_id');
COMMIT;
SELECT name FROM routerkeys.list_keys() WHERE name LIKE 'tx-level-%' ORDER BY name;
SELECT count(*) AS kept_still_there FROM routerkeys.get_key(:'kept_id');

-- A PL/pgSQL exception block is a subtransaction: its create is undone.
DO $$
BEGIN
    PERFORM routerkeys.create_key('tx-in-exception-block');
    RAISE EXCEPTION 'the tenant is invalid';
EXCEPTION WHEN raise_exception THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END
$$;
SELECT pg_temp.named('tx-in-exception-block') AS exists_after;

-- A change that fails at COMMIT is an ERROR: the transaction aborts, and its creates go.
BEGIN;
SELECT name FROM routerkeys.create_key('tx-commit-fails');
SELECT name FROM routerkeys.update_key(:'kept_id', name => 'tx-never');
SELECT stubctl.fault('{"kind":"status","status":400,"message":"not now","method":"PATCH","count":1}');
\set VERBOSITY terse
COMMIT;
\set VERBOSITY default
SELECT pg_temp.named('tx-commit-fails') AS exists_after;
SELECT name FROM routerkeys.get_key(:'kept_id');

-- PREPARE TRANSACTION with pending remote effects is refused.
BEGIN;
SELECT routerkeys.delete_key(:'kept_id');
PREPARE TRANSACTION 'tx-two-phase';
SELECT count(*) AS kept_still_there FROM routerkeys.get_key(:'kept_id');

-- An abort-time delete the service refuses: a WARNING names the key, nothing is raised,
-- and the key is recorded for the follow-up check. (The create's answer is a fixed one,
-- so that the key id in the WARNING is always the same.)
BEGIN;
SELECT stubctl.fault('{"kind":"raw","method":"POST","status":200,"content_type":"application/json","count":1,
  "body":"{\"id\":\"01JSTUCKSTUCKSTUCKSTUCKSTU\",\"name\":\"tx-stuck\",\"workspace_id\":\"ws\",\"token\":\"sk-orq-01JSTUCKSTUCKSTUCKSTUCKSTU-fake\"}"}');
SELECT id, token IS NOT NULL AS has_token FROM routerkeys.create_key('tx-stuck');
SELECT stubctl.fault('{"kind":"status","status":500,"method":"DELETE","count":-1}');
ROLLBACK;
SELECT stubctl.clear_faults();
SELECT stubctl.wait_until($$EXISTS (SELECT FROM routerkeys.outbox WHERE operation = 'check' AND key_id = '01JSTUCKSTUCKSTUCKSTUCKSTU')$$);
SELECT operation, key_id, key_name FROM routerkeys.outbox
WHERE operation = 'check' AND key_id = '01JSTUCKSTUCKSTUCKSTUCKSTU';

-- With routerkeys.transactional off (SET LOCAL works), calls act at once as in 0.1.
BEGIN;
SET LOCAL routerkeys.transactional = off;
SELECT id AS gone_id FROM routerkeys.create_key('tx-immediate') \gset
SELECT routerkeys.delete_key(:'gone_id');
ROLLBACK;
SHOW routerkeys.transactional;
SELECT count(*) AS gone FROM routerkeys.get_key(:'gone_id');
BEGIN;
SET LOCAL routerkeys.transactional = off;
SELECT name FROM routerkeys.create_key('tx-immediate-kept');
ROLLBACK;
SELECT pg_temp.named('tx-immediate-kept') AS kept_after_rollback;

-- The foreign table follows the same rules.
CREATE SCHEMA tx_remote;
IMPORT FOREIGN SCHEMA router FROM SERVER stub INTO tx_remote;
SELECT stubctl.clear_log();
BEGIN;
INSERT INTO tx_remote.router_keys (name) VALUES ('tx-fdw-a'), ('tx-fdw-b');
UPDATE tx_remote.router_keys SET active = false WHERE id = :'kept_id' RETURNING name, active;
DELETE FROM tx_remote.router_keys WHERE name = 'tx-immediate-kept' RETURNING name;
SELECT name, active FROM tx_remote.router_keys WHERE name LIKE 'tx-%' ORDER BY name;
ROLLBACK;
SELECT method, path, status FROM pg_temp.requests() WHERE method <> 'GET';
SELECT name, active FROM tx_remote.router_keys WHERE name LIKE 'tx-%' ORDER BY name;
BEGIN;
UPDATE tx_remote.router_keys SET name = 'tx-fdw-renamed' WHERE id = :'kept_id';
DELETE FROM tx_remote.router_keys WHERE name = 'tx-immediate-kept';
COMMIT;
SELECT name, active FROM tx_remote.router_keys WHERE name LIKE 'tx-%' ORDER BY name;
DROP SCHEMA tx_remote CASCADE;
SELECT stubctl.reset();
