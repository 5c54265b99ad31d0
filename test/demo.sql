-- The walk-through that `make demo` runs against the stub of the provisioning API.
\getenv stub_url RK_STUB_URL
\pset null '∅'
\pset footer off
\set ECHO none
\echo
\echo '=== 1. Configure: the extension, a server, and a user mapping holding the provisioning key'
\echo
\set ECHO queries
CREATE EXTENSION routerkeys;
CREATE SERVER ai_router FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url :'stub_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER ai_router
    OPTIONS (provisioning_key 'rk-test-provisioning-valid');
\set ECHO none

\echo
\echo '=== 2. Tenants get a key from a trigger: insert creates it, suspend disables it, delete deletes it'
\echo
\set ECHO queries
CREATE TABLE tenants (
    id        int PRIMARY KEY,
    name      text NOT NULL UNIQUE,
    suspended boolean NOT NULL DEFAULT false,
    key_id    text UNIQUE
);
CREATE FUNCTION tenants_key_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    made routerkeys.created_key;
BEGIN
    IF TG_OP = 'INSERT' THEN
        made := routerkeys.create_key('tenant-' || NEW.name);
        UPDATE tenants SET key_id = made.id WHERE id = NEW.id;
        RAISE NOTICE 'token for %: %… (shown once: deliver it to the tenant)',
            NEW.name, left(made.token, 24);
    ELSIF TG_OP = 'UPDATE' AND NEW.suspended IS DISTINCT FROM OLD.suspended THEN
        PERFORM routerkeys.update_key(NEW.key_id, active => NOT NEW.suspended);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM routerkeys.delete_key(OLD.key_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_key_sync
    AFTER INSERT OR UPDATE OF suspended OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_key_sync();

INSERT INTO tenants (id, name) VALUES (1, 'acme'), (2, 'globex'), (3, 'initech');
\set ECHO none

\echo
\echo '=== 3. List the keys, as a function and as a view'
\echo
\set ECHO queries
SELECT name, active, status, token_prefix, created_at::timestamp(0) AS created_at
FROM routerkeys.keys;
SELECT name, status FROM routerkeys.list_keys(search => 'acme');
\set ECHO none

\echo
\echo '=== 4. Suspend a tenant: its key is disabled at the router'
\echo
\set ECHO queries
UPDATE tenants SET suspended = true WHERE name = 'globex';
SELECT name, active, status FROM routerkeys.list_keys(status => 'disabled');
\set ECHO none

\echo
\echo '=== 5. Report: tenants joined with their key status'
\echo
\set ECHO queries
SELECT t.name AS tenant, t.suspended, k.status AS key_status, k.last_used_at
FROM tenants t
LEFT JOIN routerkeys.keys k ON k.id = t.key_id
ORDER BY t.id;
\set ECHO none

\echo
\echo '=== 6. Delete a tenant: its key is deleted too'
\echo
\set ECHO queries
DELETE FROM tenants WHERE name = 'initech';
SELECT t.name AS tenant, k.status AS key_status
FROM tenants t
LEFT JOIN routerkeys.keys k ON k.id = t.key_id
ORDER BY t.id;
\set ECHO none

\echo
\echo '=== 6b. The router follows the transaction: a signup that rolls back leaves no key,'
\echo '        a deletion that rolls back deletes nothing; reconcile() finds what a crash leaves'
\echo
\set ECHO queries
BEGIN;
INSERT INTO tenants (id, name) VALUES (4, 'umbrella');
SELECT name, status FROM routerkeys.keys WHERE name = 'tenant-umbrella';
ROLLBACK;
SELECT count(*) AS umbrella_keys FROM routerkeys.keys WHERE name = 'tenant-umbrella';
BEGIN;
DELETE FROM tenants WHERE name = 'acme';
SELECT count(*) AS acme_keys_inside FROM routerkeys.keys WHERE name = 'tenant-acme';
ROLLBACK;
SELECT count(*) AS acme_keys_after FROM routerkeys.keys WHERE name = 'tenant-acme';
SELECT * FROM routerkeys.reconcile('tenants', 'key_id', 'tenant-%');
\set ECHO none

\echo
\echo '=== 6c. Durable provisioning: the trigger only writes intents to the outbox; after COMMIT'
\echo '        the worker makes the keys, writes their ids back and delivers each token once'
\echo
\set ECHO queries
CREATE TABLE signups (id int PRIMARY KEY, suspended boolean NOT NULL DEFAULT false, key_id text);
CREATE TABLE signup_tokens (signup jsonb, key_id text, token text);
CREATE FUNCTION store_token(context jsonb, key_id text, token text) RETURNS void
LANGUAGE sql AS $$ INSERT INTO public.signup_tokens VALUES (context, key_id, token) $$;
CREATE TRIGGER provision AFTER INSERT OR UPDATE OR DELETE ON signups
    FOR EACH ROW EXECUTE FUNCTION routerkeys.provision(
        'name=signup-{id}', 'key_column=key_id', 'suspended=suspended',
        'deliver_to=public.store_token(jsonb,text,text)');
BEGIN;
INSERT INTO signups (id) VALUES (1), (2), (3);
SELECT id, operation, key_name, state FROM routerkeys.outbox ORDER BY id;
COMMIT;
BEGIN;
INSERT INTO signups (id) VALUES (4);
ROLLBACK;
\set ECHO none
-- Waits (at most 30 s) until the worker is done with every intent.
CREATE FUNCTION pg_temp.worker_done() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        EXIT WHEN NOT EXISTS (SELECT FROM routerkeys.outbox WHERE state IN ('pending', 'sending'));
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SELECT pg_temp.worker_done() \g /dev/null
\set ECHO queries
SELECT id, operation, key_name, state, attempts, result_key_id FROM routerkeys.outbox ORDER BY id;
SELECT id, key_id FROM signups ORDER BY id;
SELECT signup, key_id, left(token, 34) || '…' AS token FROM signup_tokens ORDER BY signup;
UPDATE signups SET suspended = true WHERE id = 2;
DELETE FROM signups WHERE id = 3;
\set ECHO none
SELECT pg_temp.worker_done() \g /dev/null
\set ECHO queries
SELECT id, operation, key_name, state FROM routerkeys.outbox WHERE operation <> 'create' ORDER BY id;
SELECT name, active FROM routerkeys.keys WHERE name LIKE 'signup-%' ORDER BY name;
\set ECHO none

\echo
\echo '=== 7. The same keys as a foreign table: the API does the filtering EXPLAIN shows'
\echo
\set ECHO queries
IMPORT FOREIGN SCHEMA router FROM SERVER ai_router INTO public;
EXPLAIN (COSTS OFF) SELECT name FROM router_keys WHERE status = 'disabled';
UPDATE router_keys SET active = true WHERE status = 'disabled' RETURNING name, active, status;
\set ECHO none

\echo
\echo '=== 8. What an error looks like: a wrong provisioning key, then a key that does not exist'
\echo
\set ECHO queries
ALTER USER MAPPING FOR CURRENT_USER SERVER ai_router
    OPTIONS (SET provisioning_key 'rk-test-wrong');
SELECT count(*) FROM routerkeys.keys;
ALTER USER MAPPING FOR CURRENT_USER SERVER ai_router
    OPTIONS (SET provisioning_key 'rk-test-provisioning-valid');
SELECT routerkeys.update_key('01JZZZZZZZZZZZZZZZZZZZZZZZ', active => false);
\set ECHO none
\echo
\echo '=== Done. The session is still usable after the errors:'
\echo
\set ECHO queries
SELECT count(*) AS keys FROM routerkeys.keys;
