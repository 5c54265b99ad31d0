-- outbox: durable provisioning. The provision() trigger and the enqueue_* functions write
-- intents in the caller's transaction and send nothing; after COMMIT the worker applies
-- them, writes the key id back to the row and hands the token to the delivery function,
-- once. A rollback leaves nothing behind. Each wait below is a bounded poll.
\getenv stub_url RK_STUB_URL
SELECT stubctl.reset();
SET routerkeys.default_server = 'stub';
-- Whether every intent of the outbox is over.
CREATE FUNCTION pg_temp.drained() RETURNS boolean
LANGUAGE sql AS $$
    SELECT stubctl.wait_until($c$NOT EXISTS (SELECT FROM routerkeys.outbox
                                            WHERE state IN ('pending', 'sending'))$c$)
$$;
-- The follow-up checks earlier tests left are over: start from an empty outbox.
SELECT pg_temp.drained();
DELETE FROM routerkeys.intent;
-- The keys of the stub whose name starts with a prefix: name, active.
CREATE FUNCTION pg_temp.stub_keys(prefix text) RETURNS TABLE (name text, active boolean)
LANGUAGE sql AS $$
    SELECT name, active FROM routerkeys.list_keys(search => prefix)
    WHERE name LIKE prefix || '%' ORDER BY name
$$;

-- A tenant table, a table for the tokens, and the function that receives them.
CREATE TABLE ob_tenants (id int PRIMARY KEY, plan text, suspended boolean NOT NULL DEFAULT false,
                      key_id text);
CREATE TABLE ob_tokens (tenant jsonb, key_id text, token text);
CREATE FUNCTION ob_store_token(context jsonb, key_id text, token text) RETURNS void
LANGUAGE sql AS $$ INSERT INTO public.ob_tokens VALUES (context, key_id, token) $$;
CREATE TRIGGER provision AFTER INSERT OR UPDATE OR DELETE ON ob_tenants
FOR EACH ROW EXECUTE FUNCTION routerkeys.provision(
    'name=ob-tenant-{id}', 'key_column=key_id', 'suspended=suspended',
    'deliver_to=public.ob_store_token(jsonb,text,text)');

-- Inside the transaction nothing is sent: the intents wait in the outbox.
SELECT stubctl.clear_log();
BEGIN;
INSERT INTO ob_tenants (id, plan) VALUES (1, 'free'), (2, 'pro'), (3, 'pro');
SELECT operation, key_name, state, attempts FROM routerkeys.outbox ORDER BY id;
SELECT count(*) AS requests_inside FROM stubctl.log();
COMMIT;

-- After COMMIT the worker makes the keys, writes their ids back, delivers each token once.
SELECT pg_temp.drained();
SELECT operation, key_name, state, attempts, result_key_id IS NOT NULL AS has_key,
       last_sqlstate FROM routerkeys.outbox ORDER BY id;
SELECT t.id, t.key_id = o.result_key_id AS written_back
FROM ob_tenants t JOIN routerkeys.outbox o ON o.key_name = 'ob-tenant-' || t.id ORDER BY t.id;
SELECT tenant, count(*) AS deliveries, bool_and(token LIKE 'sk-orq-' || key_id || '-%') AS token_of_key
FROM ob_tokens GROUP BY tenant ORDER BY tenant;
SELECT * FROM pg_temp.stub_keys('ob-tenant-');
-- The token is nowhere in the outbox.
SELECT count(*) AS outbox_rows_with_token
FROM routerkeys.outbox o, ob_tokens t WHERE o::text LIKE '%' || t.token || '%';

-- A rolled-back insert leaves no intent and makes no key; so does a rolled-back savepoint.
BEGIN;
INSERT INTO ob_tenants (id) VALUES (4);
ROLLBACK;
BEGIN;
INSERT INTO ob_tenants (id) VALUES (5);
SAVEPOINT s;
INSERT INTO ob_tenants (id) VALUES (6);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT pg_temp.drained();
SELECT key_name, state FROM routerkeys.outbox WHERE key_name IN ('ob-tenant-4', 'ob-tenant-5', 'ob-tenant-6');
SELECT * FROM pg_temp.stub_keys('ob-tenant-');

-- Suspending disables the key, resuming enables it, deleting the row deletes the key.
UPDATE ob_tenants SET suspended = true WHERE id IN (1, 2);
UPDATE ob_tenants SET plan = 'team' WHERE id = 3;
SELECT pg_temp.drained();
SELECT * FROM pg_temp.stub_keys('ob-tenant-');
UPDATE ob_tenants SET suspended = false WHERE id = 2;
DELETE FROM ob_tenants WHERE id = 3;
SELECT pg_temp.drained();
SELECT operation, key_name, arguments, state FROM routerkeys.outbox
WHERE operation <> 'create' ORDER BY id;
SELECT * FROM pg_temp.stub_keys('ob-tenant-');

-- The intents of one key are applied in order: a tenant made, suspended and removed in one
-- transaction ends with no key.
BEGIN;
INSERT INTO ob_tenants (id) VALUES (7);
UPDATE ob_tenants SET suspended = true WHERE id = 7;
DELETE FROM ob_tenants WHERE id = 7;
COMMIT;
SELECT pg_temp.drained();
SELECT operation, state FROM routerkeys.outbox WHERE key_name = 'ob-tenant-7' ORDER BY id;
SELECT * FROM pg_temp.stub_keys('ob-tenant-7');

-- enqueue_create without a trigger: the caller reads the key id from the outbox.
SELECT routerkeys.enqueue_create('ob-direct', permission_mode => 'read_only') AS direct \gset
SELECT pg_temp.drained();
SELECT k.name, k.permission_mode, k.id = o.result_key_id AS same_id
FROM routerkeys.outbox o JOIN routerkeys.list_keys(search => 'ob-direct') k ON k.name = o.key_name
WHERE o.id = :direct;
SELECT routerkeys.enqueue_update(key_name => 'ob-direct', active => false) IS NOT NULL AS queued;
SELECT pg_temp.drained();
SELECT * FROM pg_temp.stub_keys('ob-direct');
SELECT routerkeys.enqueue_delete(key_name => 'ob-direct') IS NOT NULL AS queued;
SELECT pg_temp.drained();
SELECT * FROM pg_temp.stub_keys('ob-direct');

-- A create the service rejects is dead at once, with the service's error; retry() makes it
-- pending again, cancel() ends it.
SELECT stubctl.fault('{"kind":"status","status":400,"message":"name is not allowed","method":"POST","count":1}');
SELECT routerkeys.enqueue_create('ob-rejected') AS rejected \gset
SELECT pg_temp.drained();
SELECT state, attempts, last_sqlstate, last_message FROM routerkeys.outbox WHERE id = :rejected;
SELECT routerkeys.retry(:rejected);
SELECT pg_temp.drained();
SELECT state, attempts, last_sqlstate FROM routerkeys.outbox WHERE id = :rejected;
SELECT routerkeys.retry(:rejected) AS retried_done_intent;
SELECT routerkeys.cancel(:rejected) AS cancelled_done_intent;
SELECT routerkeys.enqueue_delete(key_name => 'ob-rejected') IS NOT NULL AS queued;
SELECT pg_temp.drained();

-- A 429 pauses the server until its Retry-After has passed; the create is made once, and
-- the rate-limited attempt does not count against max_attempts.
SELECT stubctl.fault('{"kind":"status","status":429,"retry_after":"1","method":"POST","count":1}');
SELECT routerkeys.enqueue_create('ob-limited') AS limited \gset
SELECT pg_temp.drained();
SELECT state, attempts, done_at - enqueued_at >= interval '1 second' AS waited
FROM routerkeys.outbox WHERE id = :limited;
SELECT * FROM pg_temp.stub_keys('ob-limited');

-- A create whose answer is lost (applied, then the connection closed) leaves one key.
SELECT stubctl.fault('{"kind":"drop","method":"POST","count":1}');
SELECT routerkeys.enqueue_create('ob-dropped') AS dropped \gset
SELECT pg_temp.drained();
SELECT state, k.id = o.result_key_id AS the_delivered_key
FROM routerkeys.outbox o JOIN routerkeys.list_keys(search => 'ob-dropped') k ON k.name = o.key_name
WHERE o.id = :dropped;

-- A create that times out and is carried out late: the name is looked up before the next
-- attempt, and again once routerkeys.settle_delay has passed; one key is left, the one
-- whose token was delivered.
CREATE SERVER stub_slow FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url :'stub_url', timeout_ms '300');
CREATE USER MAPPING FOR CURRENT_USER SERVER stub_slow
    OPTIONS (provisioning_key 'rk-test-provisioning-valid');
SELECT stubctl.unique_names(false);
SELECT stubctl.clear_log();
SELECT stubctl.fault('{"kind":"delay_headers","ms":1500,"method":"POST","count":1}');
SELECT routerkeys.enqueue_create('ob-late', server => 'stub_slow') AS late \gset
SELECT pg_temp.drained();
SELECT state, attempts > 1 AS retried, last_sqlstate FROM routerkeys.outbox WHERE id = :late;
SELECT stubctl.wait_until($$(SELECT settle_at IS NULL FROM routerkeys.intent WHERE id = $$ || :late || ')');
SELECT count(*) AS creates_carried_out FROM stubctl.log()
WHERE method = 'POST' AND status = 200 AND body LIKE '%ob-late%';
SELECT count(*) AS keys, bool_and(k.id = o.result_key_id) AS the_delivered_key
FROM routerkeys.outbox o JOIN routerkeys.list_keys(search => 'ob-late') k ON k.name = o.key_name
WHERE o.id = :late;
SELECT stubctl.unique_names(true);

-- Bad arguments are errors with a SQLSTATE, before anything is written.
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_create(NULL)$$);
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_create('x', permission_mode => 'root')$$);
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_create(repeat('x', 129))$$);
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_create('x', deliver_to => 'pg_catalog.lower(text)')$$);
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_update(key_name => 'x')$$);
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_update(key_id => 'a', key_name => 'x', active => true)$$);
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_delete(key_id => '../x')$$);
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_delete(key_name => 'x', server => 'nowhere')$$);
SELECT * FROM stubctl.try($$SELECT routerkeys.retry(-1)$$);
CREATE TABLE no_pk (id int, key_id text);
CREATE TRIGGER provision AFTER INSERT ON no_pk FOR EACH ROW
EXECUTE FUNCTION routerkeys.provision('name=np-{id}', 'key_column=key_id');
SELECT * FROM stubctl.try($$INSERT INTO no_pk VALUES (1)$$);
CREATE TABLE bad_args (id int PRIMARY KEY);
CREATE TRIGGER provision AFTER INSERT ON bad_args FOR EACH ROW
EXECUTE FUNCTION routerkeys.provision('name=ba-{id}', 'colour=blue');
SELECT * FROM stubctl.try($$INSERT INTO bad_args VALUES (1)$$);
DROP TRIGGER provision ON bad_args;
CREATE TRIGGER provision AFTER INSERT ON bad_args FOR EACH ROW
EXECUTE FUNCTION routerkeys.provision('name=ba-{nope}');
SELECT * FROM stubctl.try($$INSERT INTO bad_args VALUES (1)$$);
DROP TRIGGER provision ON bad_args;
CREATE TRIGGER provision BEFORE INSERT ON bad_args FOR EACH ROW
EXECUTE FUNCTION routerkeys.provision('name=ba-{id}');
SELECT * FROM stubctl.try($$INSERT INTO bad_args VALUES (1)$$);
SELECT count(*) AS intents_of_failed_calls FROM routerkeys.outbox
WHERE key_name IN ('x', 'np-1', 'ba-1');

-- The outbox table is the extension's: no role may write it, and a role sees and manages
-- only its own intents.
CREATE ROLE rk_ob_a;
CREATE ROLE rk_ob_b;
GRANT USAGE ON FOREIGN SERVER stub TO rk_ob_a, rk_ob_b;
GRANT USAGE ON SCHEMA stubctl TO rk_ob_a, rk_ob_b;
CREATE USER MAPPING FOR rk_ob_a SERVER stub OPTIONS (provisioning_key 'rk-test-provisioning-valid');
SET ROLE rk_ob_a;
SELECT * FROM stubctl.try($$INSERT INTO routerkeys.intent (enqueued_by, server, operation, key_name) VALUES ('postgres', 'stub', 'create', 'forged')$$);
SELECT routerkeys.enqueue_create('ob-role-a') AS role_a \gset
SELECT operation, key_name, enqueued_by FROM routerkeys.outbox;
RESET ROLE;
SET ROLE rk_ob_b;
SELECT count(*) AS intents_b_sees FROM routerkeys.outbox;
SELECT code, regexp_replace(message, '[0-9]+', 'N') AS message
FROM stubctl.try($$SELECT routerkeys.cancel($$ || :role_a || ')');
SELECT * FROM stubctl.try($$SELECT routerkeys.enqueue_create('ob-role-b')$$);
RESET ROLE;
SELECT pg_temp.drained();
SELECT state FROM routerkeys.outbox WHERE id = :role_a;
SELECT routerkeys.enqueue_delete(key_name => 'ob-role-a') IS NOT NULL AS queued;
SELECT pg_temp.drained();
DROP USER MAPPING FOR rk_ob_a SERVER stub;
REVOKE USAGE ON FOREIGN SERVER stub FROM rk_ob_a, rk_ob_b;
REVOKE USAGE ON SCHEMA stubctl FROM rk_ob_a, rk_ob_b;
DROP ROLE rk_ob_a, rk_ob_b;

-- Every committed create made exactly one key, and the outbox says so.
SELECT count(*) FILTER (WHERE state = 'done') AS done,
       count(*) FILTER (WHERE state NOT IN ('done', 'cancelled')) AS not_done
FROM routerkeys.outbox;
SELECT * FROM pg_temp.stub_keys('ob-');
DROP TABLE ob_tenants, ob_tokens, no_pk, bad_args;
DROP FUNCTION ob_store_token(jsonb, text, text);
DROP USER MAPPING FOR CURRENT_USER SERVER stub_slow;
DROP SERVER stub_slow;
RESET routerkeys.default_server;
