-- pagination: a listing walks every page with starting_after, and the filters are sent
-- to the API on every page. 1 000 keys in pages of 7 take 143 requests, each key once.
SELECT stubctl.reset();
SELECT stubctl.seed(1000);
ALTER SERVER stub OPTIONS (ADD page_size '7');

SELECT stubctl.clear_log();
SELECT count(*) AS keys, count(DISTINCT id) AS distinct_ids,
       min(name) AS first_name, max(name) AS last_name
FROM routerkeys.list_keys();
SELECT count(*) AS requests,
       count(*) FILTER (WHERE query LIKE '%starting_after=%') AS with_cursor,
       bool_and(query LIKE 'source=router&limit=7%') AS all_limited
FROM stubctl.log();

-- Newest first, as the API returns them.
SELECT name FROM routerkeys.list_keys() LIMIT 3;

-- Filters go into the query string, escaped.
SELECT stubctl.seed(3, 'disabled & odd/', 'disabled');
SELECT stubctl.clear_log();
SELECT name, status FROM routerkeys.list_keys(status => 'disabled', search => 'odd/') ORDER BY name;
SELECT query FROM stubctl.log();

ALTER SERVER stub OPTIONS (DROP page_size);
