-- upgrade: ALTER EXTENSION routerkeys UPDATE from 0.1 gives what a fresh install of the
-- default version has, object by object: functions with their arguments, results,
-- volatility, strictness, parallel labels, privileges and comments; types; views with
-- their definitions; tables with their columns, defaults, constraints, indexes and
-- privileges; sequences; the schema's privileges; the tables marked for pg_dump. And what
-- was made under 0.1 keeps working after the update.
\getenv stub_url RK_STUB_URL
\set home :DBNAME
SELECT stubctl.reset();
CREATE DATABASE rk_upgrade_from_01;
CREATE DATABASE rk_upgrade_fresh;

-- One line per object of the extension: "<object> | <what it is>".
SELECT $describe$
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) || ' | ' || concat_ws(' | ',
         (SELECT pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
                 || ' ' || p.provolatile::text || p.proparallel::text
                 || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END
                 || CASE WHEN p.prosecdef THEN ' definer' ELSE '' END
                 || coalesce(' ' || p.proacl::text, '')
          FROM pg_proc p WHERE d.classid = 'pg_proc'::regclass AND p.oid = d.objid),
         (SELECT c.relkind::text || coalesce(' ' || c.relacl::text, '')
                 || coalesce(' ' || array_to_string(c.reloptions, ','), '')
                 || coalesce(' (' || (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                                        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                                        || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                                                        ', ' ORDER BY a.attnum)
                                      FROM pg_attribute a
                                      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) || ')', '')
                 || CASE WHEN c.relkind = 'v' THEN ' ' || regexp_replace(pg_get_viewdef(c.oid), '\s+', ' ', 'g') ELSE '' END
          FROM pg_class c WHERE d.classid = 'pg_class'::regclass AND c.oid = d.objid),
         obj_description(d.objid, (SELECT relname FROM pg_class WHERE oid = d.classid)))
FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'routerkeys' AND d.deptype = 'e'
  -- array types and the row types of views and tables are members from PostgreSQL 17 on:
  -- left out
  AND NOT EXISTS (SELECT FROM pg_type t WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
                  AND (t.typcategory = 'A' OR t.typrelid IN (SELECT oid FROM pg_class WHERE relkind IN ('r', 'v'))))
UNION ALL
SELECT 'index ' || indexname || ' | ' || indexdef FROM pg_indexes WHERE schemaname = 'routerkeys'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || '.' || conname || ' | ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'routerkeys'::regnamespace
  AND contype <> 'n'   -- NOT NULL, a constraint from PostgreSQL 18 on, is in the columns
UNION ALL
SELECT 'schema routerkeys | ' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'routerkeys'
UNION ALL
SELECT 'dumped with pg_dump | ' || coalesce((SELECT string_agg(c::regclass::text, ', ' ORDER BY c::regclass::text)
                                              FROM unnest(extconfig) c), '')
FROM pg_extension WHERE extname = 'routerkeys'
$describe$ AS describe \gset

\c rk_upgrade_from_01
CREATE EXTENSION routerkeys VERSION '0.1';
-- Made under 0.1: a server, a mapping, a key, a foreign table.
CREATE SERVER stub FOREIGN DATA WRAPPER routerkeys OPTIONS (url :'stub_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER stub
    OPTIONS (provisioning_key 'rk-test-provisioning-valid');
SELECT name FROM routerkeys.create_key('upgrade-kept');
IMPORT FOREIGN SCHEMA router FROM SERVER stub INTO public;
ALTER EXTENSION routerkeys UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'routerkeys';
-- The foreign table made under 0.1 still works, and so does a 0.2 object.
SELECT name, active FROM router_keys WHERE name = 'upgrade-kept';
SELECT routerkeys.enqueue_delete(key_name => 'upgrade-kept') > 0 AS enqueued;
DO $$
BEGIN
    FOR i IN 1 .. 600 LOOP     -- the worker applies it after COMMIT: wait at most 30 s
        EXIT WHEN NOT EXISTS (SELECT FROM routerkeys.outbox WHERE state IN ('pending', 'sending'));
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SELECT key_name, state FROM routerkeys.outbox;
SELECT count(*) AS kept_after_delete FROM router_keys WHERE name = 'upgrade-kept';
CREATE TEMP TABLE objects AS SELECT * FROM (:describe) AS d(line);
SELECT string_agg(line, E'\x1e' ORDER BY line) AS upgraded, count(*) AS objects FROM objects \gset

\c rk_upgrade_fresh
CREATE EXTENSION routerkeys;
SELECT extversion FROM pg_extension WHERE extname = 'routerkeys';
CREATE TEMP TABLE objects AS SELECT * FROM (:describe) AS d(line);
-- What differs, either way (nothing), then the objects by name.
SELECT line AS only_in_fresh_install FROM objects
WHERE line <> ALL (string_to_array(:'upgraded', E'\x1e')) ORDER BY line;
SELECT u AS only_after_update FROM unnest(string_to_array(:'upgraded', E'\x1e')) u
WHERE u NOT IN (SELECT line FROM objects) ORDER BY u;
SELECT count(*) = :objects AS same_count FROM objects;
SELECT split_part(line, ' | ', 1) AS object FROM objects ORDER BY 1;
\c :home
-- The worker of rk_upgrade_from_01 is stopped by DROP DATABASE (the library is loaded).
LOAD 'routerkeys';
DROP DATABASE rk_upgrade_from_01;
DROP DATABASE rk_upgrade_fresh;
