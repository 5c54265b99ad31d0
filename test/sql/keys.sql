-- keys: the five operations on the current generation of the API, as a user calls them.
-- Create returns the key and its one-time token; get, update, list and the keys view
-- show the same columns; delete says whether there was something to delete.
SELECT stubctl.reset();
SET timezone = 'UTC';

-- Create: the token is returned once, in full; the id is a ULID.
CREATE TEMP TABLE made AS
    SELECT * FROM routerkeys.create_key('tenant-acme');
SELECT name, active, status, permission_mode, owner_type, source,
       length(id) AS id_length, id ~ '^[0-9A-HJKMNP-TV-Z]{26}$' AS id_is_ulid,
       token LIKE 'sk-orq-' || id || '-%' AS token_is_raw,
       starts_with(token, token_prefix) AS prefix_matches,
       attrs ? 'token' AS attrs_has_token,
       created_at <= now() AND created_at > now() - interval '1 minute' AS created_recently
FROM made;
-- The create sent only what was given.
SELECT method, path, body::jsonb FROM stubctl.log() WHERE method = 'POST';

-- Get: the same key, token masked in attrs and no token column at all.
SELECT k.id = m.id AS same_id, k.name, k.active, k.status,
       k.attrs->>'token' <> m.token AS token_masked
FROM routerkeys.get_key((SELECT id FROM made)) k, made m;
-- A key that does not exist is no row, not an error.
SELECT count(*) FROM routerkeys.get_key('01JZZZZZZZZZZZZZZZZZZZZZZZ');
SELECT count(*) FROM routerkeys.get_key(NULL);

-- Create with every option.
SELECT name, project_id, permission_mode, expires_at
FROM routerkeys.create_key('tenant-globex', expires_at => '2031-01-02 03:04:05+00',
                           project_id => 'proj-1', permission_mode => 'read_only');

-- Names with quotes, backslashes and non-ASCII letters travel unchanged.
SELECT name, length(name) FROM routerkeys.create_key($$O'Brien "Ünïcødé" \ 東京 🚀$$);

-- List and the view: newest first, the same columns.
SELECT name, active, status, project_id FROM routerkeys.list_keys();
SELECT name FROM routerkeys.keys ORDER BY created_at;

-- Update sends only what is given: first disable, then rename.
SELECT stubctl.clear_log();
SELECT name, active, status FROM routerkeys.update_key((SELECT id FROM made), active => false);
SELECT name, active, status FROM routerkeys.update_key((SELECT id FROM made), name => 'tenant-acme-2');
SELECT method, body::jsonb FROM stubctl.log();
-- Expiry: set, then clear.
SELECT expires_at FROM routerkeys.update_key((SELECT id FROM made), expires_at => '2030-06-01 00:00:00+00');
SELECT expires_at FROM routerkeys.update_key((SELECT id FROM made), clear_expires_at => true);
SELECT routerkeys.update_key((SELECT id FROM made), expires_at => now() + interval '1 day', clear_expires_at => true);
-- Nothing to change: the key is read, not patched.
SELECT stubctl.clear_log();
SELECT name, active FROM routerkeys.update_key((SELECT id FROM made));
SELECT method FROM stubctl.log();
-- Enable again; filter the list by status.
SELECT active FROM routerkeys.update_key((SELECT id FROM made), active => true);
SELECT count(*) FROM routerkeys.list_keys(status => 'disabled');
SELECT name FROM routerkeys.list_keys(search => 'GLOBEX');
SELECT name FROM routerkeys.list_keys(project_id => 'proj-1');
SELECT routerkeys.list_keys(status => 'sleeping');

-- Delete: true, then false once it is gone.
SELECT routerkeys.delete_key((SELECT id FROM made));
SELECT routerkeys.delete_key((SELECT id FROM made));
SELECT count(*) FROM routerkeys.keys WHERE id = (SELECT id FROM made);
SELECT stubctl.live_keys();

-- Ids go into a URL path: anything that could reach another endpoint is refused.
SELECT routerkeys.get_key('../chat/completions');
SELECT routerkeys.delete_key('abc?x=1');
SELECT routerkeys.delete_key('');

-- A key with fields this version does not know, and without the optional ones:
-- unknown fields stay in attrs, missing ones are NULL.
SELECT stubctl.fault('{"kind":"raw","method":"GET","status":200,"content_type":"application/json",
  "body":"{\"id\":\"01JAAAAAAAAAAAAAAAAAAAAAAA\",\"name\":\"minimal\",\"workspace_id\":\"ws\",\"token\":\"sk-orq-***\",\"carbon_budget\":{\"grams\":12},\"status\":\"API_KEY_STATUS_QUARANTINED\"}"}');
SELECT id, name, active, status, token_prefix, created_at, attrs->'carbon_budget' AS carbon_budget
FROM routerkeys.get_key('01JAAAAAAAAAAAAAAAAAAAAAAA');

-- attrs holds the remote object exactly as sent: numbers keep their decimal text, and
-- integers of any size stay whole.
SELECT id AS exact_id FROM routerkeys.create_key('exact-numbers') \gset
SELECT stubctl.fault('{"kind":"extra","method":"GET","count":1,"members":"\"x_exact\":{\"dec\":1.10,\"big\":123456789012345678901234567890,\"neg\":-98765432109876543210,\"tiny\":1e-30,\"huge\":1E400}"}');
SELECT attrs->'x_exact'->'dec' AS dec, attrs->'x_exact'->'big' AS big,
       attrs->'x_exact'->'neg' AS neg, attrs->'x_exact'->'tiny' AS tiny,
       (attrs->'x_exact'->>'huge')::numeric = 1e400 AS huge_exact
FROM routerkeys.get_key(:'exact_id');
SELECT routerkeys.delete_key(:'exact_id');

-- NULL arguments: a NULL key id gives the NULL answer, as a STRICT function would (no row,
-- NULL); a create has no NULL answer, so a NULL name is an error.
SELECT count(*) AS rows FROM routerkeys.get_key(NULL);
SELECT routerkeys.delete_key(NULL) IS NULL AS delete_null,
       routerkeys.update_key(NULL, active => false) IS NULL AS update_null;
SELECT code, message FROM stubctl.try($$SELECT routerkeys.create_key(NULL)$$);
