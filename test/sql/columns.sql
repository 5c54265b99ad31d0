-- columns: the SQL script spells out the two composite types; the C code has one table of
-- a key's columns (rows.c), which IMPORT FOREIGN SCHEMA writes out. They must agree:
-- routerkeys.created_key is the table's columns in order, routerkeys.key the same less
-- token. This test fails when they drift apart.
CREATE SCHEMA columns_remote;
IMPORT FOREIGN SCHEMA router FROM SERVER stub INTO columns_remote;
CREATE FUNCTION pg_temp.columns_of(rel regclass) RETURNS text[]
LANGUAGE sql AS $$
    SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
    FROM pg_attribute WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped
$$;
SELECT array_length(pg_temp.columns_of('columns_remote.router_keys'), 1) AS key_columns;
SELECT pg_temp.columns_of('routerkeys.created_key'::regtype::text::regclass)
       = pg_temp.columns_of('columns_remote.router_keys') AS created_key_matches;
SELECT pg_temp.columns_of('routerkeys.key'::regtype::text::regclass)
       = (pg_temp.columns_of('columns_remote.router_keys'))[1:16] AS key_matches,
       (pg_temp.columns_of('columns_remote.router_keys'))[17] AS only_in_created_key;
-- The functions return those types.
SELECT p.proname, format_type(p.prorettype, NULL) AS returns
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'routerkeys' AND p.proname LIKE '%key%' ORDER BY 1;
DROP SCHEMA columns_remote CASCADE;
