-- legacy: the older generation of the API (wrapped objects, api_key_id, created_at,
-- status without active, {"object":"list","data":[…],"has_more":…}, delete 200 {}).
-- Nothing is configured: routerkeys reads both shapes into the same columns.
SELECT stubctl.reset();
SELECT stubctl.generation('legacy');

CREATE TEMP TABLE old_made AS SELECT * FROM routerkeys.create_key('legacy-tenant');
SELECT name, active, status, length(id) AS id_length,
       token LIKE 'sk-orq-%' AS has_token, attrs ? 'api_key_id' AS legacy_shape,
       created_at IS NOT NULL AS has_created_at
FROM old_made;

SELECT name, active, status FROM routerkeys.get_key((SELECT id FROM old_made));
SELECT name, active, status FROM routerkeys.update_key((SELECT id FROM old_made), active => false);
SELECT name, active, status FROM routerkeys.list_keys();

-- Pagination follows has_more: 10 keys in pages of 4 take three requests.
SELECT stubctl.seed(9, 'legacy-seed-');
ALTER SERVER stub OPTIONS (ADD page_size '4');
SELECT stubctl.clear_log();
SELECT count(*), count(DISTINCT id) FROM routerkeys.keys;
SELECT count(*) AS requests FROM stubctl.log();
ALTER SERVER stub OPTIONS (DROP page_size);

SELECT routerkeys.delete_key((SELECT id FROM old_made));
SELECT routerkeys.delete_key((SELECT id FROM old_made));
SELECT stubctl.generation('current');
